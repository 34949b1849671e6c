"""Koji's XML-RPC wire protocol: sessions from headers, keyword args, multicall and faults.

What the real hub does and the client relies on:

- keyword arguments travel as a trailing ``{'__starstar': True, ...}`` struct (``koji.decode_args``);
- a logged-in client sends ``Koji-Session-Id``/``Koji-Session-Key`` headers (older clients put
  ``session-id``/``session-key`` in the query string); a bad or closed session is ``AuthError``;
- ``multiCall([{methodName, params}, ...])`` answers ``[result]`` or ``{faultCode, faultString}`` per call;
- a file upload is a POST of the raw chunk with its name and offset in the query (``rawUpload``, see uploads);
- an error is an XML-RPC fault whose code is the koji exception's ``faultCode`` (so ``koji.convertFault``
  rebuilds the same class on the client); a wrong argument list is ``ParameterError``;
- responses are marshalled with ``koji.xmlrpcplus.dumps`` (``<i8>`` for big ints, ``<nil/>`` for None) and
  carry a ``Koji-Version`` header.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

import koji
import koji.util
from koji.xmlrpcplus import Fault, dumps, getparser

from relengotron_sandbox.koji.hub import Caller, Hub
from relengotron_sandbox.koji.uploads import handle_upload, is_upload
from relengotron_sandbox.web import Request, Response

log = logging.getLogger(__name__)

MULTICALL = ("multiCall", "system.multicall")


def fault_of(exc: BaseException) -> Fault:
    """The fault the real hub sends for an exception: koji errors by text, others by class and text."""
    if isinstance(exc, Fault):
        return exc
    code = getattr(type(exc), "faultCode", 1)
    if isinstance(exc, koji.GenericError):
        return Fault(code, str(exc))
    return Fault(code, f"{type(exc)}: {exc}")


class Dispatcher:
    """Maps method names to the public methods of the export objects and runs them one transaction each."""

    def __init__(self, hub: Hub, exports: list[object]) -> None:
        self.hub = hub
        self.methods: dict[str, Callable[..., Any]] = {}
        for export in exports:
            for name in dir(export):
                if name.startswith("_"):
                    continue
                attr = getattr(export, name)
                if callable(attr):
                    if name in self.methods:
                        raise ValueError(f"hub method {name} exported twice")
                    self.methods[name] = attr

    # --- HTTP entry point -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        headers = {"Content-Type": "text/xml", "Koji-Version": koji.__version__}
        if is_upload(request):
            try:
                result = handle_upload(self.hub, request, self._session(request))
                body = dumps((result,), methodresponse=1, allow_none=1)
            except Exception as exc:
                if not isinstance(exc, (koji.GenericError, Fault)):
                    log.exception("koji hub: upload failed")
                body = dumps(fault_of(exc), methodresponse=1, allow_none=1)
            return Response(200, body.encode(), headers)
        try:
            parser, unmarshaller = getparser()
            parser.feed(request.body)
            parser.close()
            params, method = unmarshaller.close(), unmarshaller.getmethodname()
        except Exception as exc:
            if not request.body:
                return Response(400, b"Empty request", {"Content-Type": "text/plain"})
            return Response(400, f"Invalid request: {exc}".encode(), {"Content-Type": "text/plain"})
        try:
            caller = self._session(request)
            result = self.call(method, params, caller)
            body = dumps((result,), methodresponse=1, allow_none=1)
        except Exception as exc:
            if not isinstance(exc, (koji.GenericError, Fault)):
                log.exception("koji hub: %s failed", method)
            body = dumps(fault_of(exc), methodresponse=1, allow_none=1)
        return Response(200, body.encode(), headers)

    def _session(self, request: Request) -> Caller:
        session_id = request.headers.get("koji-session-id") or request.arg("session-id")
        key = request.headers.get("koji-session-key") or request.arg("session-key")
        if session_id is None or key is None:
            return Caller()
        store = self.hub.store
        with store.transaction():
            try:
                sid = int(session_id)
            except ValueError:
                raise koji.AuthError("Invalid session or bad credentials") from None
            row = store.row(
                "SELECT id, user_id, authtype FROM sessions WHERE id = ? AND key = ? AND closed = 0", (sid, key)
            )
            if row is None:
                raise koji.AuthError("Invalid session or bad credentials")
            user = self.hub.user(row["user_id"], strict=True)
            perms = frozenset(self.hub.user_perms(row["user_id"]))
        return Caller(user=user, perms=perms, session_id=row["id"], authtype=row["authtype"])

    # --- calls ------------------------------------------------------------------------------------------

    def call(self, method: str, params: tuple[Any, ...] | list[Any], caller: Caller) -> Any:
        """Run one call as ``caller`` (multicall included); raises the koji exception on failure."""
        if method in MULTICALL:
            args, kwargs = koji.decode_args(*params)
            return koji.util.call_with_argcheck(self._multicall, [caller, *args], kwargs)
        func = self.methods.get(method)
        if func is None:
            raise koji.GenericError(f"Invalid method: {method}")
        args, kwargs = koji.decode_args(*params)
        with self.hub.as_caller(caller), self.hub.store.transaction():
            return koji.util.call_with_argcheck(func, args, kwargs)

    def _multicall(self, caller: Caller, calls: list[dict[str, Any]]) -> list[Any]:
        results: list[Any] = []
        for entry in calls:
            try:
                if not isinstance(entry, dict):
                    raise koji.GenericError(f"Invalid multicall entry: {entry!r}")
                result = self.call(entry["methodName"], entry.get("params", ()), caller)
            except Fault as fault:
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
            except Exception as exc:
                fault = fault_of(exc)
                item: dict[str, Any] = {"faultCode": fault.faultCode, "faultString": fault.faultString}
                if not isinstance(exc, koji.GenericError):
                    item["traceback"] = traceback.format_exception(*sys.exc_info())
                    log.exception("koji hub: multicall entry %r failed", entry)
                results.append(item)
            else:
                results.append([result])
        return results
