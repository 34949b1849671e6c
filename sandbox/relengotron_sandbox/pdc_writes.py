"""Writes of the sandbox PDC: create/patch releases and release components, patch composes.

Validation answers as PDC's serializers do: 400 with ``{"detail": ...}`` for unknown or read-only fields and
``{"<field>": ["<message>"]}`` for a bad value of a field. Changes are published like PDC's NotificationMixin
(``<resource>.added`` / ``<resource>.changed`` with ``new_value``/``old_value``/``url``) and compose updates
like PDC's compose view (``compose`` with action/compose_id/from/to). Fields PDC can change but this sandbox
does not (a release's short/version/type, a component's name...) are refused with a 400 saying so.
"""

from __future__ import annotations

from typing import Any

from productmd.common import RELEASE_SHORT_RE, RELEASE_TYPES, RELEASE_VERSION_RE, create_release_id

from relengotron_sandbox.pdc_api import PDCApi
from relengotron_sandbox.web import HTTPError, Request, Response

EMPTY_PATCH = "Partial update with no changes does not make much sense."
TESTING_STATES = ("untested", "passed", "failed")
COMPONENT_TYPES = ("rpm", "module", "container")

RELEASE_WRITABLE = {"name", "active", "integrated_with", "sigkey", "allow_buildroot_push", "bugzilla", "dist_git"}
RELEASE_FIXED = {
    "short",
    "version",
    "release_type",
    "base_product",
    "product_version",
    "allowed_debuginfo_services",
    "allowed_push_targets",
}
RELEASE_READ_ONLY = {"release_id", "compose_set"}
COMPONENT_WRITABLE = {"active", "dist_git_branch", "brew_package", "srpm"}
COMPONENT_FIXED = {"name", "global_component", "bugzilla_component", "type"}


def field_error(name: str, message: str) -> HTTPError:
    return HTTPError(400, message, {name: [message]})


def _quoted(names: set[str]) -> str:
    return ", ".join(f'"{n}"' for n in sorted(names))


def _body(request: Request, partial: bool) -> dict[str, Any]:
    body = request.json()
    if partial and not body:
        raise HTTPError(400, EMPTY_PATCH)
    if not isinstance(body, dict):
        raise HTTPError(400, "Invalid input: must be a dict.", {"detail": ["Invalid input: must be a dict."]})
    return body


def _check_keys(body: dict[str, Any], writable: set[str], fixed: set[str], read_only: set[str]) -> None:
    unknown = set(body) - writable - fixed - read_only
    if unknown:
        raise HTTPError(400, f"Unknown fields: {_quoted(unknown)}.")
    if set(body) & read_only:
        raise HTTPError(400, f"Can not update read only fields: {_quoted(set(body) & read_only)}.")
    if set(body) & fixed:
        raise HTTPError(400, f"The sandbox PDC does not change fields: {_quoted(set(body) & fixed)}.")


def _bool(name: str, value: Any) -> bool:
    """A value DRF's BooleanField accepts."""
    if value in (True, "true", "True", "1", 1, "t"):
        return True
    if value in (False, "false", "False", "0", 0, "f"):
        return False
    raise field_error(name, f'"{value}" is not a valid boolean.')


def _text(name: str, value: Any, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise field_error(name, "Not a valid string." if value is not None else "This field may not be null.")
    if not value.strip():
        raise field_error(name, "This field may not be blank.")
    return value


def _nested(name: str, value: Any, key: str) -> dict[str, str] | None:
    """``bugzilla: {"product": ...}`` / ``dist_git: {"branch": ...}`` / ``srpm: {"name": ...}`` or null."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise field_error(name, "Invalid data. Expected a dictionary.")
    if set(value) - {key}:
        raise HTTPError(400, f"Unknown fields: {_quoted(set(value) - {key})}.")
    return {key: _text(f"{name}.{key}", value.get(key)) or ""}


def _release_values(api: PDCApi, body: dict[str, Any]) -> dict[str, Any]:
    """Validated values of the writable release fields present in ``body``."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name in ("active", "allow_buildroot_push"):
            out[name] = _bool(name, value)
        elif name == "name":
            out[name] = _text(name, value)
        elif name == "integrated_with":
            if value is not None and api.store.get("releases", value) is None:
                raise field_error(name, f"Object with release_id={value} does not exist.")
            out[name] = value
        elif name == "sigkey":
            known = {r["sigkey"] for r in api.store.all("releases")} | {api.ctx.built.key_id}
            if value is not None and value not in known:
                raise field_error(name, f"Object with key_id={value} does not exist.")
            out[name] = value
        elif name in ("bugzilla", "dist_git"):
            out[name] = _nested(name, value, "product" if name == "bugzilla" else "branch")
    return out


def patch_release(api: PDCApi, key: str, request: Request) -> Response:
    """PATCH /releases/<id>/. Idempotent: the same body twice leaves the same release (one message)."""
    old = api.detail("releases", key, request)
    body = _body(request, partial=True)
    _check_keys(body, RELEASE_WRITABLE, RELEASE_FIXED, RELEASE_READ_ONLY)
    with api.store.lock:
        doc = {**api.get_doc("releases", key), **_release_values(api, body)}
        api.store.put("releases", doc)
    new = api.detail("releases", key, request)
    if new != old:
        api.publish("releases.changed", {"old_value": old, "new_value": new, "url": api.url(request, "releases", key)})
    return Response.json(new)


def create_release(api: PDCApi, request: Request) -> Response:
    """POST /releases/. Not idempotent: a second identical POST is a 400 (the release exists)."""
    body = _body(request, partial=False)
    _check_keys(body, RELEASE_WRITABLE | RELEASE_FIXED, set(), RELEASE_READ_ONLY)
    for required in ("short", "version", "name", "release_type"):
        if required not in body:
            raise field_error(required, "This field is required.")
    short, version = _text("short", body["short"]), _text("version", body["version"])
    assert short is not None and version is not None
    if not RELEASE_SHORT_RE.match(short):
        raise field_error("short", "Only accept lowercase letters, numbers or -")
    if not RELEASE_VERSION_RE.match(version):
        raise field_error("version", "Only accept comma separated numbers or any text")
    if body["release_type"] not in RELEASE_TYPES:
        choices = ", ".join(f"'{t}'" for t in RELEASE_TYPES)
        raise field_error("release_type", f"'{body['release_type']}' is not allowed value. Use one of {choices}.")
    for name in ("base_product", "allowed_debuginfo_services", "allowed_push_targets"):
        if body.get(name):
            raise HTTPError(400, f'The sandbox PDC has no {name} to refer to: "{name}" must be empty.')
    release_id = create_release_id(short, version, body["release_type"])
    doc = {
        "release_id": release_id,
        "short": short,
        "version": version,
        "name": None,
        "base_product": None,
        "active": True,
        "product_version": body.get("product_version"),
        "release_type": body["release_type"],
        "integrated_with": None,
        "sigkey": api.ctx.built.key_id,
        "allow_buildroot_push": False,
        "allowed_debuginfo_services": [],
        "allowed_push_targets": [],
        "bugzilla": None,
        "dist_git": None,
    }
    values = _release_values(api, {k: v for k, v in body.items() if k in RELEASE_WRITABLE})
    with api.store.lock:
        if api.store.get("releases", release_id) is not None:
            message = "Release with this Short, Version, Release type and Base product already exists."
            raise HTTPError(400, message, {"detail": [message]})
        api.store.put("releases", {**doc, **values})
    new = api.detail("releases", release_id, request)
    api.publish("releases.added", {"new_value": new, "url": api.url(request, "releases", release_id)})
    return Response.json(new, 201)


def _component_values(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name == "active":
            out[name] = _bool(name, value)
        elif name in ("dist_git_branch", "brew_package"):
            out[name] = _text(name, value, nullable=True)
        elif name == "srpm":
            out[name] = _nested(name, value, "name")
    return out


def create_component(api: PDCApi, request: Request) -> Response:
    """POST /release-components/. Not idempotent: the same (release, name, type) again is a 400."""
    body = _body(request, partial=False)
    allowed = COMPONENT_WRITABLE | COMPONENT_FIXED | {"release"}
    _check_keys(body, allowed, set(), {"id", "dist_git_web_url"})
    for required in ("release", "name", "global_component"):
        if required not in body:
            raise field_error(required, "This field is required.")
    release = api.store.get("releases", body["release"])
    if release is None:
        raise field_error("release", f"Object with release_id={body['release']} does not exist.")
    if not release["active"]:
        raise field_error("release", "Can not create a release component with an inactive release.")
    name = _text("name", body["name"])
    ctype = body.get("type", "rpm")
    if ctype not in COMPONENT_TYPES:
        choices = ", ".join(f"'{t}'" for t in COMPONENT_TYPES)
        raise field_error("type", f"'{ctype}' is not allowed value. Use one of {choices}.")
    bz_name = body.get("bugzilla_component")
    with api.store.lock:
        clash = [
            c
            for c in api.store.all("release-components")
            if (c["release"], c["name"], c["type"]) == (body["release"], name, ctype)
        ]
        if clash:
            message = "The fields release, name, type must make a unique set."
            raise HTTPError(400, message, {"detail": [message]})
        cid = api.store.next_id("release-components")
        doc = {
            "id": cid,
            "release": body["release"],
            "bugzilla_component": None
            if bz_name is None
            else {
                "id": cid,
                "name": _text("bugzilla_component", bz_name),
                "parent_component": None,
                "subcomponents": [],
            },
            "brew_package": None,
            "global_component": _text("global_component", body["global_component"]),
            "name": name,
            "dist_git_branch": None,
            "dist_git_web_url": None,
            "active": True,
            "type": ctype,
            "srpm": None,
            **_component_values(body),
        }
        api.store.put("release-components", doc)
    new = api.detail("release-components", cid, request)
    api.publish("release-components.added", {"new_value": new, "url": api.url(request, "release-components", cid)})
    return Response.json(new, 201)


def patch_component(api: PDCApi, key: str, request: Request) -> Response:
    """PATCH /release-components/<id>/. Idempotent."""
    old = api.detail("release-components", key, request)
    body = _body(request, partial=True)
    _check_keys(body, COMPONENT_WRITABLE, COMPONENT_FIXED, {"id", "dist_git_web_url"})
    with api.store.lock:
        api.store.put("release-components", {**api.get_doc("release-components", key), **_component_values(body)})
    new = api.detail("release-components", key, request)
    if new != old:
        msg = {"old_value": old, "new_value": new, "url": api.url(request, "release-components", key)}
        api.publish("release-components.changed", msg)
    return Response.json(new)


def patch_compose(api: PDCApi, key: str, request: Request) -> Response:
    """PATCH /composes/<id>/: acceptance_testing, linked_releases, rtt_tested_architectures. Idempotent."""
    old = api.detail("composes", key, request)
    body = _body(request, partial=True)
    updatable = {"acceptance_testing", "linked_releases", "rtt_tested_architectures"}
    if set(body) - updatable:
        raise HTTPError(400, f"Only these properties can be updated: {', '.join(sorted(updatable))}")
    with api.store.lock:
        doc = dict(api.get_doc("composes", key))
        if "acceptance_testing" in body:
            state = body["acceptance_testing"]
            if state not in TESTING_STATES:
                choices = ", ".join(f"'{s}'" for s in TESTING_STATES)
                raise field_error("acceptance_testing", f"'{state}' is not allowed value. Use one of {choices}.")
            doc["acceptance_testing"] = state
        if "linked_releases" in body:
            linked = body["linked_releases"]
            if not isinstance(linked, list):
                raise field_error(
                    "linked_releases", f'Expected a list of items but got type "{type(linked).__name__}".'
                )
            for rid in linked:
                if api.store.get("releases", rid) is None:
                    raise field_error("linked_releases", f"Object with release_id={rid} does not exist.")
            doc["linked_releases"] = sorted(set(linked))
        rtt = body.get("rtt_tested_architectures") or {}
        if not isinstance(rtt, dict):
            raise HTTPError(400, f'rtt_tested_architectures: "{rtt}" is not a dict')
        for variant, arches in rtt.items():
            if not isinstance(arches, dict):
                raise HTTPError(400, f'rtt_tested_architectures: "{arches}" is not a dict')
            for arch, state in arches.items():
                if arch not in doc["rtt_tested_architectures"].get(variant, {}):
                    raise field_error("rtt_tested_architectures", f"{variant}.{arch} not in compose {key}.")
                if state not in TESTING_STATES:
                    message = f'"{state}" is not a known testing status for {variant}.{arch}.'
                    raise field_error("rtt_tested_architectures", message)
                variants = {v: dict(a) for v, a in doc["rtt_tested_architectures"].items()}
                variants[variant][arch] = state
                doc["rtt_tested_architectures"] = variants
        api.store.put("composes", doc)
    new = api.detail("composes", key, request)
    if new != old:
        api.publish("compose", {"action": "update", "compose_id": key, "from": old, "to": new})
    return Response.json(new)


def create(api: PDCApi, request: Request) -> Response:
    name = request.params["resource"]
    api.resource(name)
    if name == "releases":
        return create_release(api, request)
    if name == "release-components":
        return create_component(api, request)
    raise HTTPError(405, 'Method "POST" not allowed.')


def patch(api: PDCApi, request: Request) -> Response:
    name, key = request.params["resource"], request.params["key"]
    api.resource(name)
    if name == "releases":
        return patch_release(api, key, request)
    if name == "release-components":
        return patch_component(api, key, request)
    if name == "composes":
        return patch_compose(api, key, request)
    raise HTTPError(405, 'Method "PATCH" not allowed.')
