"""Errors of the service adapters, sorted the way a caller (an Airflow task) must react to them.

:class:`TransientError`: the service was unreachable, timed out or answered 5xx — the same call may succeed
later, so retry with backoff. :class:`NotFoundError`: the release, bug or result named does not exist
(permanent). :class:`AdapterError`: any other refusal (bad input, no permission; permanent). Every error
names the service and the item it was working on.
"""

from __future__ import annotations

import requests

TRANSIENT_STATUS = 500  # this status and above: the service's fault, worth a retry


class AdapterError(RuntimeError):
    """A service refused or failed an operation on ``item``; permanent."""

    def __init__(self, service: str, item: str, reason: str) -> None:
        self.service = service
        self.item = item
        self.reason = reason
        super().__init__(f"{service}: {item}: {reason}")


class TransientError(AdapterError):
    """The service could not answer now (connection, timeout, 5xx): retry later."""


class NotFoundError(AdapterError):
    """What ``item`` names does not exist in the service (permanent)."""


def is_transient(exc: BaseException) -> bool:
    """Whether a failure of an adapter — or of the Koji adapter, a bus publisher or the mirror's rsync, whose
    errors are their own — is worth a retry (what an Airflow task checks before failing at once)."""
    from relengotron.kojiclient import KojiTransientError  # koji and the buses are heavy: only loaded when asked
    from relengotron.messaging import PublishTransientError
    from relengotron.sync.mirror import SyncInterrupted

    return isinstance(exc, TransientError | KojiTransientError | PublishTransientError | SyncInterrupted)


def from_status(service: str, item: str, status: int | None, reason: str) -> AdapterError:
    """The error class an HTTP ``status`` calls for: None or 5xx transient, 404 not found, else permanent."""
    if status is None or status >= TRANSIENT_STATUS:
        return TransientError(service, item, reason)
    if status == 404:
        return NotFoundError(service, item, reason)
    return AdapterError(service, item, reason)


def from_requests(service: str, item: str, exc: BaseException) -> AdapterError | None:
    """The error for a ``requests`` failure (connection refused, timeout, an HTTPError); None if not one."""
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return from_status(service, item, status, f"HTTP {status}: {exc}")
    if isinstance(exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError):
        return TransientError(service, item, f"cannot reach {service}: {exc}")
    if isinstance(exc, ConnectionError | TimeoutError):
        return TransientError(service, item, f"cannot reach {service}: {exc}")
    return None


class RequestCounter:
    """Counts the HTTP responses a ``requests.Session`` receives (a response hook): what a batch cost."""

    def __init__(self, session: requests.Session) -> None:
        self.count = 0
        session.hooks.setdefault("response", []).append(self._seen)

    def _seen(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.count += 1


def default_timeout(session: requests.Session, timeout: float) -> None:
    """Give every request of ``session`` a ``timeout`` unless the caller set one (clients that set none
    would wait forever on a hung server)."""
    original = session.request

    def request(method: str, url: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", timeout)
        return original(method, url, **kwargs)  # type: ignore[arg-type]

    session.request = request  # type: ignore[method-assign]
