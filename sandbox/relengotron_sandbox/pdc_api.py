"""The reads of the sandbox PDC: its resources (PDC's serializer fields and filters) and :class:`PDCApi`, which
lists and retrieves records of a :class:`DocStore` as Product Definition Center's REST API shows them.

Records are derived from the world (:mod:`relengotron_sandbox.pdc_data`); filters, paging and errors follow PDC
(:mod:`relengotron_sandbox.pdc_query`). The writes (:mod:`relengotron_sandbox.pdc_writes`) build on this module and
the service (:mod:`relengotron_sandbox.pdc`) routes to both: the dependencies go one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relengotron_sandbox import pdc_data
from relengotron_sandbox.pdc_query import (
    BOOL,
    CHAR,
    DEP,
    INT,
    MULTI,
    MULTI_CI,
    NULLABLE,
    PRESENT,
    REGEX,
    Filter,
    Query,
    apply_filters,
    check_params,
    order,
    paginate,
    select_fields,
)
from relengotron_sandbox.pdc_query import field as at
from relengotron_sandbox.pdc_store import DocStore
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.web import HTTPError, Request, Response

API = "/rest_api/v1/"


def _nvr_check(value: str) -> None:
    if len(value.rsplit("-", 2)) != 3:
        raise HTTPError(400, f"Invalid NVR: {value}")


def _nvra_check(value: str) -> None:
    if len(value.rsplit("-", 2)) != 3 or "." not in value.rsplit("-", 1)[1]:
        raise HTTPError(400, f"Invalid NVRA: {value}")


def _compose_rpms(key: str) -> Any:
    return lambda d: [r[key] for r in d["_rpms"]]


@dataclass(frozen=True)
class Resource:
    key: str  # the field that names one record in URLs
    fields: tuple[str, ...]  # serializer fields, in API order
    filters: dict[str, Filter] = field(default_factory=dict)
    extra_params: tuple[str, ...] = ()
    listable: bool = True


RESOURCES: dict[str, Resource] = {
    "releases": Resource(
        key="release_id",
        fields=(
            "release_id",
            "short",
            "version",
            "name",
            "base_product",
            "active",
            "product_version",
            "release_type",
            "compose_set",
            "integrated_with",
            "sigkey",
            "allow_buildroot_push",
            "allowed_debuginfo_services",
            "allowed_push_targets",
            "bugzilla",
            "dist_git",
        ),
        filters={
            "release_id": Filter(MULTI, at("release_id")),
            "base_product": Filter(MULTI, at("base_product")),
            "has_base_product": Filter(PRESENT, at("base_product")),
            "release_type": Filter(MULTI, at("release_type")),
            "product_version": Filter(MULTI, at("product_version")),
            "integrated_with": Filter(NULLABLE, at("integrated_with")),
            "active": Filter(BOOL, at("active")),
            "name": Filter(MULTI, at("name")),
            "short": Filter(MULTI, at("short")),
            "version": Filter(MULTI, at("version")),
            "sigkey": Filter(MULTI, at("sigkey")),
            "allow_buildroot_push": Filter(BOOL, at("allow_buildroot_push")),
            "allowed_debuginfo_services": Filter(MULTI, at("allowed_debuginfo_services")),
            "allowed_push_targets": Filter(MULTI, at("allowed_push_targets")),
            "bugzilla_product": Filter(NULLABLE, at("bugzilla", "product")),
            "dist_git_branch": Filter(NULLABLE, at("dist_git", "branch")),
        },
    ),
    "release-components": Resource(
        key="id",
        fields=(
            "id",
            "release",
            "bugzilla_component",
            "brew_package",
            "global_component",
            "name",
            "dist_git_branch",
            "dist_git_web_url",
            "active",
            "type",
            "srpm",
        ),
        filters={
            "name": Filter(MULTI, at("name")),
            "release": Filter(MULTI, at("release")),
            "global_component": Filter(MULTI, at("global_component")),
            "bugzilla_component": Filter(MULTI, at("bugzilla_component", "name")),
            "brew_package": Filter(MULTI, at("brew_package")),
            "active": Filter(BOOL, at("active")),
            "type": Filter(CHAR, at("type")),
            "dist_git_branch": Filter(MULTI, at("_branch")),
            "srpm_name": Filter(NULLABLE, at("srpm", "name")),
        },
        extra_params=("include_inactive_release",),
    ),
    "component-groups": Resource(
        key="id",
        fields=("id", "group_type", "description", "release", "components"),
        filters={
            "group_type": Filter(MULTI, at("group_type")),
            "release": Filter(MULTI, at("release")),
            "release_component": Filter(MULTI, lambda d: [c["name"] for c in d["components"]]),
        },
    ),
    "release-component-relationships": Resource(
        key="id",
        fields=("id", "type", "from_component", "to_component"),
        filters={
            "type": Filter(MULTI, at("type")),
            "from_component_release": Filter(MULTI, at("from_component", "release")),
            "from_component_name": Filter(MULTI, at("from_component", "name")),
            "to_component_release": Filter(MULTI, at("to_component", "release")),
            "to_component_name": Filter(MULTI, at("to_component", "name")),
        },
    ),
    "composes": Resource(
        key="compose_id",
        fields=(
            "compose_id",
            "compose_date",
            "compose_type",
            "compose_respin",
            "release",
            "compose_label",
            "deleted",
            "rpm_mapping_template",
            "sigkeys",
            "acceptance_testing",
            "linked_releases",
            "rtt_tested_architectures",
        ),
        filters={
            "release": Filter(MULTI_CI, at("release")),
            "compose_id": Filter(MULTI_CI, at("compose_id")),
            "compose_type": Filter(MULTI_CI, at("compose_type")),
            "acceptance_testing": Filter(MULTI, at("acceptance_testing")),
            "rpm_nvr": Filter(
                CHAR, lambda d: [f"{r['name']}-{r['version']}-{r['release']}" for r in d["_rpms"]], _nvr_check
            ),
            "rpm_nvra": Filter(
                CHAR,
                lambda d: [f"{r['name']}-{r['version']}-{r['release']}.{r['arch']}" for r in d["_rpms"]],
                _nvra_check,
            ),
            "deleted": Filter(BOOL, at("deleted")),
            "compose_date": Filter(MULTI, at("compose_date")),
            "compose_respin": Filter(MULTI, lambda d: str(d["compose_respin"])),
            "compose_label": Filter(MULTI, at("compose_label")),
            "srpm_name": Filter(CHAR, _compose_rpms("srpm_name")),
            "rpm_name": Filter(CHAR, _compose_rpms("name")),
            "rpm_arch": Filter(CHAR, _compose_rpms("arch")),
            "rpm_version": Filter(CHAR, _compose_rpms("version")),
            "rpm_release": Filter(CHAR, _compose_rpms("release")),
        },
    ),
    "compose-images": Resource(key="compose_id", fields=(), listable=False),
    "rpms": Resource(
        key="id",
        fields=(
            "id",
            "name",
            "version",
            "epoch",
            "release",
            "arch",
            "srpm_name",
            "srpm_nevra",
            "filename",
            "linked_releases",
            "linked_composes",
            "dependencies",
            "built_for_release",
            "srpm_commit_hash",
            "srpm_commit_branch",
        ),
        filters={
            "name": Filter(REGEX, at("name")),
            "version": Filter(MULTI, at("version")),
            "epoch": Filter(INT, at("epoch")),
            "release": Filter(MULTI, at("release")),
            "arch": Filter(MULTI, at("arch")),
            "srpm_name": Filter(MULTI, at("srpm_name")),
            "srpm_nevra": Filter(NULLABLE, at("srpm_nevra")),
            "filename": Filter(MULTI, at("filename")),
            "compose": Filter(MULTI, at("linked_composes")),
            "srpm_commit_hash": Filter(MULTI, at("srpm_commit_hash")),
            "srpm_commit_branch": Filter(MULTI, at("srpm_commit_branch")),
            "linked_release": Filter(MULTI, at("linked_releases")),
            "built_for_release": Filter(MULTI, at("built_for_release")),
            **{dep: Filter(DEP, at("dependencies", dep)) for dep in pdc_data.DEP_TYPES},
            "has_no_deps": Filter(BOOL, lambda d: not any(d["dependencies"].values())),
        },
    ),
}


def not_found() -> HTTPError:
    return HTTPError(404, "Not found.")


class PDCApi:
    """Reads of the PDC REST API over a :class:`DocStore`; the writes live in :mod:`pdc_writes`."""

    def __init__(self, store: DocStore, ctx: SandboxContext) -> None:
        self.store = store
        self.ctx = ctx

    def publish(self, topic: str, msg: dict[str, Any]) -> None:
        """Announce a change as PDC's fedmsg backend does (``org.fedoraproject.<env>.pdc.<topic>``)."""
        if self.ctx.publisher is not None:
            self.ctx.publish("pdc", topic, msg)

    @staticmethod
    def resource(name: str) -> Resource:
        if name not in RESOURCES:
            raise not_found()
        return RESOURCES[name]

    @staticmethod
    def root(request: Request) -> str:
        host = request.headers.get("host", "127.0.0.1")
        return f"http://{host}{API}"

    def url(self, request: Request, name: str, key: Any) -> str:
        return f"{self.root(request)}{name}/{key}/"

    def prepare(self, name: str, docs: list[dict[str, Any]], query: Query) -> list[dict[str, Any]]:
        """Stored documents plus the joined values filters need (release components' inherited branch)."""
        if name != "release-components":
            return docs
        releases = {r["release_id"]: r for r in self.store.all("releases")}
        out = []
        for doc in docs:
            rel = releases[doc["release"]]
            if not rel["active"] and "include_inactive_release" not in query:
                continue
            out.append({**doc, "_branch": doc["dist_git_branch"] or (rel["dist_git"] or {}).get("branch")})
        return out

    def render(self, name: str, docs: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
        """API representations of stored documents, in the serializer's field order."""
        fields = RESOURCES[name].fields
        out = []
        if name == "releases":
            composes = self.store.all("composes")
            for doc in docs:
                rid = doc["release_id"]
                owned = [c["compose_id"] for c in composes if c["release"] == rid or rid in c["linked_releases"]]
                out.append({**{k: doc.get(k) for k in fields}, "compose_set": sorted(owned)})
        elif name == "release-components":
            releases = {r["release_id"]: r for r in self.store.all("releases")}
            for doc in docs:
                rel = releases[doc["release"]]
                branch = doc["dist_git_branch"] or (rel["dist_git"] or {}).get("branch")
                release = {"release_id": rel["release_id"], "active": rel["active"]}
                out.append({**{k: doc.get(k) for k in fields}, "release": release, "dist_git_branch": branch})
        elif name == "composes":
            for doc in docs:
                template = f"{self.root(request)}composes/{doc['compose_id']}/rpm-mapping/{{{{package}}}}/"
                out.append({**{k: doc.get(k) for k in fields}, "rpm_mapping_template": template})
        else:
            out = [{k: doc.get(k) for k in fields} for doc in docs]
        return out

    def list(self, request: Request) -> Response:
        name = request.params["resource"]
        res = self.resource(name)
        if not res.listable:
            raise HTTPError(405, 'Method "GET" not allowed.')
        check_params(request.query, res.filters, res.extra_params)
        docs = self.prepare(name, self.store.all(name), request.query)
        records = self.render(name, apply_filters(docs, res.filters, request.query), request)
        records = order(records, request.query, res.fields)
        base = f"http://{request.headers.get('host', '127.0.0.1')}{request.path}"
        page = paginate(records, request.query, base)
        if isinstance(page, dict):
            page["results"] = select_fields(page["results"], request.query, res.fields)
        else:
            page = select_fields(page, request.query, res.fields)
        return Response.json(page)

    def get_doc(self, name: str, key: str) -> dict[str, Any]:
        doc = self.store.get(name, key)
        if doc is None:
            raise not_found()
        return doc

    def detail(self, name: str, key: Any, request: Request) -> dict[str, Any]:
        """One record as the API shows it (404 when there is none)."""
        return self.render(name, [self.get_doc(name, str(key))], request)[0]

    def retrieve(self, request: Request) -> Response:
        name = request.params["resource"]
        res = self.resource(name)
        check_params(request.query, res.filters, res.extra_params)
        if name == "compose-images":
            return Response.json(self.get_doc(name, request.params["key"])["images"])
        record = self.detail(name, request.params["key"], request)
        return Response.json(select_fields([record], request.query, res.fields)[0])

    def api_root(self, request: Request) -> Response:
        return Response.json({name: f"{self.root(request)}{name}/" for name in sorted(RESOURCES)})
