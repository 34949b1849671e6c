"""The Koji adapter: a thin layer over the real ``koji.ClientSession``, with typed results and typed errors.

It holds no policy. It turns connection parameters (an Airflow connection's fields; Airflow is not imported
here) into a logged-in session, asks Koji in multicalls (one request per 500 calls, not one per build), builds
the URLs of RPMs under Koji's topurl, tags/moves/untags builds idempotently, and submits image tasks
(``buildImageOz``) and reads back the images they made (:class:`KojiImage`).

Errors are sorted for the caller: :class:`KojiTransientError` (hub offline, connection refused or reset,
timeouts, 5xx: retry later), :class:`KojiNotFoundError` (no such build/tag/RPM/task: permanent, names the item)
and :class:`KojiError` for every other failure Koji reports (permanent). Koji's own client retries connection
errors (``max_retries``/``retry_interval``) before anything reaches us.
"""

from __future__ import annotations

import errno
import time
import xmlrpc.client
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import koji
import requests

AUTH_METHODS = ("none", "password", "gssapi", "ssl")
MULTICALL_BATCH = 500

_NOT_FOUND = ("No such build", "No such tagInfo", "No such entry in table tag", "No such rpm", "No such task")
_TRANSIENT_ERRNOS = {errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT}
TASK_DONE = {"CLOSED", "FAILED", "CANCELED"}
# The subtasks that make image files: kojid's BaseImageTask (image-build) and LiveMediaTask (livemedia).
IMAGE_SUBTASKS = ("createImage", "createLiveMedia")


class KojiError(RuntimeError):
    """Koji refused or failed an operation; permanent. ``item`` names the build, tag or call concerned."""

    def __init__(self, item: str, message: str) -> None:
        self.item = item
        self.reason = message
        super().__init__(f"{item}: {message}")


class KojiTransientError(KojiError):
    """The hub was unreachable, offline or overloaded: the same call may succeed later."""


class KojiNotFoundError(KojiError):
    """The build, tag, RPM or task does not exist in Koji (permanent)."""


def classify_error(exc: BaseException, item: str) -> KojiError | None:
    """The :class:`KojiError` to raise for ``exc`` met while working on ``item``; None if it is not Koji's.

    Transient: ``ServerOffline``, ``RetryError``, connection refused/reset/aborted, timeouts, HTTP 5xx.
    Not found: Koji's "No such build/tagInfo/rpm/task" faults. Any other Koji fault: permanent.
    """
    if isinstance(exc, KojiError):
        return exc
    if isinstance(exc, koji.ServerOffline | koji.RetryError):
        return KojiTransientError(item, f"Koji is unavailable: {exc}")
    if isinstance(exc, koji.GenericError):
        text = str(exc)
        if any(marker in text for marker in _NOT_FOUND):
            return KojiNotFoundError(item, text)
        return KojiError(item, f"{type(exc).__name__}: {text}")
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status is None or status >= 500:
            return KojiTransientError(item, f"Koji answered HTTP {status}: {exc}")
        return KojiError(item, f"Koji answered HTTP {status}: {exc}")
    if isinstance(exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError):
        return KojiTransientError(item, f"cannot reach Koji: {exc}")
    if isinstance(exc, xmlrpc.client.ProtocolError):
        if exc.errcode >= 500:
            return KojiTransientError(item, f"Koji answered HTTP {exc.errcode}: {exc.errmsg}")
        return KojiError(item, f"Koji answered HTTP {exc.errcode}: {exc.errmsg}")
    if isinstance(exc, ConnectionError | TimeoutError):
        return KojiTransientError(item, f"cannot reach Koji: {exc}")
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return KojiTransientError(item, f"cannot reach Koji: {exc}")
    return None


@dataclass(frozen=True)
class KojiConnection:
    """Where Koji is and how to log in; in production the fields of an Airflow connection."""

    hub: str  # XML-RPC URL, e.g. https://koji.fedoraproject.org/kojihub
    topurl: str  # file URL root, e.g. https://kojipkgs.fedoraproject.org
    auth: str = "none"  # none | password | gssapi | ssl
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    principal: str | None = None
    keytab: str | None = None
    ccache: str | None = None
    cert: str | None = None  # client certificate (PEM with key) for ssl
    serverca: str | None = None  # CA bundle to verify the hub's certificate
    max_retries: int = 5  # Koji's own retries of connection errors
    retry_interval: float = 5.0
    timeout: int = 300  # seconds per request
    poll_interval: float = 5.0  # seconds between task polls

    def __post_init__(self) -> None:
        if not self.hub:
            raise ValueError("koji connection: 'hub' (the hub URL) is required")
        if not self.topurl:
            raise ValueError("koji connection: 'topurl' is required")
        if self.auth not in AUTH_METHODS:
            raise ValueError(f"koji connection: auth must be one of {', '.join(AUTH_METHODS)}, not {self.auth!r}")
        if self.auth == "password" and not (self.user and self.password):
            raise ValueError("koji connection: password auth needs 'user' and 'password'")
        if self.auth == "ssl" and not self.cert:
            raise ValueError("koji connection: ssl auth needs 'cert'")

    @classmethod
    def from_mapping(cls, fields: Mapping[str, Any]) -> KojiConnection:
        """From plain fields (e.g. an Airflow connection's host/login/password merged with its extra).

        ``hub`` may also be given as ``host``, ``user`` as ``login``. Unknown keys are an error naming them.
        """
        data = dict(fields)
        if "host" in data and "hub" not in data:
            data["hub"] = data.pop("host")
        if "login" in data and "user" not in data:
            data["user"] = data.pop("login")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"koji connection: unknown field(s) {', '.join(unknown)}")
        for name in ("max_retries", "timeout"):
            if name in data and data[name] is not None:
                data[name] = int(data[name])
        for name in ("retry_interval", "poll_interval"):
            if name in data and data[name] is not None:
                data[name] = float(data[name])
        data = {k: v for k, v in data.items() if v is not None}
        for name in ("hub", "topurl"):
            if not data.get(name):
                raise ValueError(f"koji connection: {name!r} is required")
        if "auth" not in data:
            data["auth"] = "password" if data.get("password") else "none"
        return cls(**data)

    def session_options(self) -> dict[str, Any]:
        """The ``opts`` for ``koji.ClientSession``: retry connection errors, never loop on an offline hub."""
        opts: dict[str, Any] = {
            "max_retries": self.max_retries,
            "retry_interval": self.retry_interval,
            "anon_retry": True,
            "offline_retry": False,  # ServerOffline goes to the caller (Airflow retries with backoff)
            "timeout": self.timeout,
        }
        if self.auth == "password":
            opts["user"] = self.user
            opts["password"] = self.password
        if self.serverca:
            opts["serverca"] = self.serverca
        if self.cert:
            opts["cert"] = self.cert
        return opts


def connect(conn: KojiConnection) -> KojiClient:
    """A :class:`KojiClient` over a new session, logged in as ``conn.auth`` says."""
    session = koji.ClientSession(conn.hub, opts=conn.session_options())
    item = f"login to {conn.hub}"
    try:
        if conn.auth == "password":
            session.login()
        elif conn.auth == "gssapi":
            session.gssapi_login(principal=conn.principal, keytab=conn.keytab, ccache=conn.ccache)
        elif conn.auth == "ssl":
            session.ssl_login(cert=conn.cert, serverca=conn.serverca)
    except Exception as exc:
        error = classify_error(exc, item)
        if error is None:
            raise
        raise error from exc
    return KojiClient(session, conn.topurl, poll_interval=conn.poll_interval)


@dataclass(frozen=True)
class KojiBuild:
    id: int
    nvr: str
    name: str  # package name
    version: str
    release: str
    epoch: int | None
    volume_name: str | None = None
    owner: str | None = None

    @classmethod
    def from_koji(cls, info: Mapping[str, Any]) -> KojiBuild:
        """From a getBuild or listTagged dict (listTagged names the build id ``build_id`` as well)."""
        name = info.get("name") or info["package_name"]
        return cls(
            id=int(info.get("build_id") or info["id"]),
            nvr=info.get("nvr") or f"{name}-{info['version']}-{info['release']}",
            name=name,
            version=info["version"],
            release=info["release"],
            epoch=info.get("epoch"),
            volume_name=info.get("volume_name"),
            owner=info.get("owner_name"),
        )


@dataclass(frozen=True)
class KojiRPM:
    id: int
    build_id: int
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    size: int  # of the unsigned file
    payloadhash: str  # hex md5 of header+payload (rpm's SIGMD5): the same for signed and unsigned copies
    buildtime: int

    # cached: a mash of an updates repository asks for each of thousands of RPMs' names many times
    @cached_property
    def nvr(self) -> str:
        return f"{self.name}-{self.version}-{self.release}"

    @cached_property
    def nvra(self) -> str:
        return f"{self.nvr}.{self.arch}"

    @cached_property
    def filename(self) -> str:
        return f"{self.nvra}.rpm"

    @classmethod
    def from_koji(cls, info: Mapping[str, Any]) -> KojiRPM:
        return cls(
            id=int(info["id"]),
            build_id=int(info["build_id"]),
            name=info["name"],
            version=info["version"],
            release=info["release"],
            epoch=info.get("epoch"),
            arch=info["arch"],
            size=int(info.get("size") or 0),
            payloadhash=str(info.get("payloadhash") or ""),
            buildtime=int(info.get("buildtime") or 0),
        )


def rpm_url(topurl: str, build: KojiBuild, rpm: KojiRPM, sigkey: str | None = None) -> str:
    """Where Koji serves ``rpm``: the unsigned file, or the copy signed with ``sigkey`` (data/signed/<key>/)."""
    pathinfo = koji.PathInfo(topdir=topurl.rstrip("/"))
    base = pathinfo.build(
        {"name": build.name, "version": build.version, "release": build.release, "volume_name": build.volume_name}
    )
    info = {"name": rpm.name, "version": rpm.version, "release": rpm.release, "arch": rpm.arch}
    relative = pathinfo.signed(info, sigkey.lower()) if sigkey else pathinfo.rpm(info)
    return f"{base}/{relative}"


@dataclass(frozen=True)
class KojiImage:
    """One image file an image task produced, as imported into its image build (``listArchives``)."""

    task_id: int  # the createImage task that made it
    build: str  # NVR of the image build
    arch: str
    filename: str
    url: str  # under topurl: packages/<name>/<version>/<release>/images/<filename>
    size: int
    checksum: str  # hex digest Koji recorded
    checksum_type: str  # hashlib name: md5, sha1, sha256
    rpms: tuple[str, ...]  # NVRs of the RPMs installed in it (createImage's rpmlist), sorted


Call = tuple[str, tuple[Any, ...], dict[str, Any], str]  # method, args, kwargs, the item it is about


class KojiClient:
    """Typed reads and idempotent tag operations over one ``koji.ClientSession`` (not thread-safe)."""

    def __init__(self, session: Any, topurl: str, *, poll_interval: float = 5.0, batch: int = MULTICALL_BATCH):
        self.session = session
        self.topurl = topurl.rstrip("/")
        self.poll_interval = poll_interval
        self.batch = batch

    def close(self) -> None:
        """Log out (when logged in) and drop the connection. Idempotent; errors on the way out are ignored."""
        try:
            if getattr(self.session, "logged_in", False):
                self.session.logout()
        except Exception:  # the hub may be gone already; the session expires on its own
            pass
        rsession = getattr(self.session, "rsession", None)
        if rsession is not None:
            rsession.close()

    # --- plumbing ---------------------------------------------------------------------------------------

    def call(self, method: str, *args: Any, item: str, **kwargs: Any) -> Any:
        """One hub call; failures become the :class:`KojiError` kind that fits, naming ``item``."""
        try:
            return getattr(self.session, method)(*args, **kwargs)
        except Exception as exc:
            error = classify_error(exc, item)
            if error is None:
                raise
            raise error from exc

    def multicall(self, calls: Sequence[Call]) -> list[Any]:
        """Results of ``calls`` in order, sent as multicalls of at most ``batch`` calls each.

        The first call that failed raises, naming its item (all items that failed the same way are named).
        """
        results: list[Any] = []
        for start in range(0, len(calls), self.batch):
            chunk = calls[start : start + self.batch]
            what = f"{len(chunk)} {chunk[0][0]} calls" if len({c[0] for c in chunk}) == 1 else f"{len(chunk)} calls"
            try:
                with self.session.multicall(strict=False, batch=self.batch) as mc:
                    pending = [getattr(mc, method)(*args, **kwargs) for method, args, kwargs, _ in chunk]
            except Exception as exc:
                error = classify_error(exc, what)
                if error is None:
                    raise
                raise error from exc
            failures: list[KojiError] = []
            for virtual, (_, _, _, item) in zip(pending, chunk, strict=True):
                try:
                    results.append(virtual.result)
                except Exception as exc:
                    error = classify_error(exc, item)
                    if error is None:
                        raise
                    failures.append(error)
            if failures:
                first = failures[0]
                same = [f.item for f in failures if type(f) is type(first)]
                if len(same) > 1:
                    raise type(first)(", ".join(same), first.reason)
                raise first
        return results

    # --- reads ------------------------------------------------------------------------------------------

    def tag_info(self, tag: str) -> dict[str, Any]:
        """The tag's getTag dict; :class:`KojiNotFoundError` naming the tag if there is none."""
        info = self.call("getTag", tag, item=f"tag {tag}")
        if not info:
            raise KojiNotFoundError(f"tag {tag}", f"No such tagInfo: {tag!r}")
        return info

    def latest_tagged(self, tag: str, *, inherit: bool = False, event: int | None = None) -> list[KojiBuild]:
        """The latest build of each package tagged into ``tag`` (listTagged latest=True), sorted by NVR."""
        kwargs: dict[str, Any] = {"latest": True, "inherit": inherit}
        if event is not None:
            kwargs["event"] = event
        found = self.call("listTagged", tag, item=f"tag {tag}", **kwargs)
        return sorted((KojiBuild.from_koji(b) for b in found), key=lambda b: b.nvr)

    def tagged(self, tag: str) -> list[KojiBuild]:
        """Every build tagged into ``tag`` itself (not only the latest of each package, no inheritance), sorted
        by NVR. Read-only. A tag that does not exist is a :class:`KojiNotFoundError` naming it."""
        self.tag_info(tag)
        found = self.call("listTagged", tag, item=f"tag {tag}", latest=False, inherit=False)
        return sorted(
            {b.nvr: b for b in (KojiBuild.from_koji(info) for info in found or [])}.values(), key=lambda b: b.nvr
        )

    def builds(self, nvrs: Iterable[str]) -> dict[str, KojiBuild]:
        """NVR → build, in one multicall; :class:`KojiNotFoundError` naming every NVR Koji does not know."""
        wanted = sorted(set(nvrs))
        answers = self.multicall([("getBuild", (nvr,), {"strict": True}, f"build {nvr}") for nvr in wanted])
        return {nvr: KojiBuild.from_koji(info) for nvr, info in zip(wanted, answers, strict=True)}

    def rpms_of(self, builds: Iterable[KojiBuild]) -> dict[int, list[KojiRPM]]:
        """Build id → its RPMs (sorted by arch, then name), all builds in one multicall (batches of 500)."""
        todo = sorted({b.id: b for b in builds}.values(), key=lambda b: b.id)
        answers = self.multicall([("listRPMs", (), {"buildID": b.id}, f"build {b.nvr}") for b in todo])
        return {
            b.id: sorted((KojiRPM.from_koji(r) for r in rpms), key=lambda r: (r.arch, r.name))
            for b, rpms in zip(todo, answers, strict=True)
        }

    def rpm_sigkeys(self, rpms: Iterable[KojiRPM]) -> dict[int, dict[str, str]]:
        """RPM id → {sigkey: sighash} Koji has recorded for it (queryRPMSigs), in one multicall."""
        todo = sorted({r.id: r for r in rpms}.values(), key=lambda r: r.id)
        answers = self.multicall([("queryRPMSigs", (), {"rpm_id": r.id}, f"rpm {r.nvra}") for r in todo])
        return {
            r.id: {str(s["sigkey"]).lower(): str(s.get("sighash") or "") for s in sigs}
            for r, sigs in zip(todo, answers, strict=True)
        }

    def rpm_url(self, build: KojiBuild, rpm: KojiRPM, sigkey: str | None = None) -> str:
        return rpm_url(self.topurl, build, rpm, sigkey)

    def tags_of(self, nvr: str) -> set[str]:
        """Names of the tags ``nvr`` is tagged into; :class:`KojiNotFoundError` if the build does not exist."""
        self.call("getBuild", nvr, strict=True, item=f"build {nvr}")
        return {t["name"] for t in self.call("listTags", build=nvr, item=f"build {nvr}")}

    def task_state(self, task_id: int) -> str:
        """FREE, OPEN, ASSIGNED, CLOSED, FAILED or CANCELED."""
        info = self.call("getTaskInfo", task_id, strict=True, item=f"task {task_id}")
        return koji.TASK_STATES[info["state"]]

    def wait_task(self, task_id: int, *, item: str, timeout: float = 3600.0) -> None:
        """Block until the task ends; a failed or canceled task raises :class:`KojiError` naming ``item``.

        Running out of ``timeout`` is transient (the task may still finish): :class:`KojiTransientError`.
        """
        deadline = time.monotonic() + timeout
        while True:
            state = self.task_state(task_id)
            if state == "CLOSED":
                return
            if state in TASK_DONE:
                reason = state.lower()
                try:
                    self.session.getTaskResult(task_id)
                except Exception as exc:
                    reason = f"{reason}: {exc}"
                raise KojiError(item, f"task {task_id} {reason}")
            if time.monotonic() >= deadline:
                raise KojiTransientError(item, f"task {task_id} still {state} after {timeout:.0f} s")
            time.sleep(self.poll_interval)

    # --- tag operations ---------------------------------------------------------------------------------

    def tag_build(self, tag: str, nvr: str, *, timeout: float = 3600.0) -> bool:
        """Tag ``nvr`` into ``tag`` and wait for the task. Returns False when it was already there.

        Idempotent: a build already in ``tag`` counts as success and nothing is sent; a task that failed
        because another caller tagged the build meanwhile counts as success too.
        """
        return self._tag(tag, nvr, None, timeout)

    def move_build(self, source: str, target: str, nvr: str, *, timeout: float = 3600.0) -> bool:
        """Move ``nvr`` from ``source`` to ``target`` (one tagBuild task with ``fromtag``) and wait for it.

        Idempotent: already in ``target`` and not in ``source`` → nothing happens (False). After a crash
        half-way (in both tags) the build is untagged from ``source``. In neither tag → :class:`KojiError`.
        """
        return self._tag(target, nvr, source, timeout)

    def untag_build(self, tag: str, nvr: str) -> bool:
        """Remove ``nvr`` from ``tag``. Idempotent: a build not in ``tag`` is left alone (False)."""
        if tag not in self.tags_of(nvr):
            self.tag_info(tag)  # a tag that does not exist is an error, not "already untagged"
            return False
        self.call("untagBuild", tag, nvr, item=f"untag {nvr} from {tag}")
        return True

    def _tag(self, tag: str, nvr: str, source: str | None, timeout: float) -> bool:
        item = f"move {nvr} from {source} to {tag}" if source else f"tag {nvr} into {tag}"
        tags = self.tags_of(nvr)
        if tag in tags:
            if source and source in tags:
                self.call("untagBuild", source, nvr, item=item)
                return True
            return False
        if source and source not in tags:
            raise KojiError(item, f"build {nvr} is in neither {source} nor {tag}")
        kwargs: dict[str, Any] = {"fromtag": source} if source else {}
        task_id = self.call("tagBuild", tag, nvr, item=item, **kwargs)
        try:
            self.wait_task(task_id, item=item, timeout=timeout)
        except KojiTransientError:
            raise
        except KojiError:
            now = self.tags_of(nvr)
            if tag in now and not (source and source in now):
                return True  # someone else did it meanwhile
            raise
        return True

    # --- image builds --------------------------------------------------------------------------------------

    def build_target_for(self, build_tag: str) -> str | None:
        """The name of a build target that builds from ``build_tag`` (the first by name); None if none does.

        Read-only. A tag that does not exist is a :class:`KojiNotFoundError` naming it.
        """
        self.tag_info(build_tag)
        targets = self.call("getBuildTargets", buildTagID=build_tag, item=f"tag {build_tag}")
        names = sorted(t["name"] for t in targets or [])
        return names[0] if names else None

    def ensure_build_target(self, name: str, build_tag: str, dest_tag: str) -> bool:
        """Create the build target ``name`` (``build_tag`` → ``dest_tag``); whether it was created.

        Idempotent: a target of that name with the same tags is left alone (False); one with other tags is a
        :class:`KojiError` naming it (it is never repointed silently).
        """
        item = f"build target {name}"
        found = self.call("getBuildTarget", name, item=item)
        if found:
            if (found["build_tag_name"], found["dest_tag_name"]) != (build_tag, dest_tag):
                raise KojiError(
                    item,
                    f"exists and builds from {found['build_tag_name']} into {found['dest_tag_name']}, "
                    f"not from {build_tag} into {dest_tag}",
                )
            return False
        self.call("createBuildTarget", name, build_tag, dest_tag, item=item)
        return True

    def upload(self, path: str | Path, *, prefix: str, item: str) -> str:
        """Upload a local file into Koji's work area as the koji CLI does for ``--kickstart``
        (``unique_path(prefix)`` then ``session.uploadWrapper``, koji_cli ``_build_image_oz``); returns its path
        relative to the work directory (``<prefix>/<unique>/<name>``). Not idempotent: each call is a new path."""
        from koji_cli.lib import unique_path

        serverdir = unique_path(prefix)
        self.call("uploadWrapper", str(path), serverdir, item=item)
        return f"{serverdir}/{Path(path).name}"

    def dist_repo(self, tag: str, keys: Sequence[str], *, arches: Sequence[str], item: str, timeout: float) -> str:
        """Have Koji write a yum repository of ``tag``'s latest builds (with inheritance) for ``arches``, of the
        copies signed with one of ``keys`` only (``distRepo``, koji dist-repo: a build with no such copy fails the
        task), wait for it and return its directory URL under topurl (``repos-dist/<tag>/<repo id>``, one
        subdirectory per arch). Not idempotent: each call is a new repository."""
        opts = {"arch": list(arches), "inherit": True, "latest": True}
        task_id = int(self.call("distRepo", tag, [k.lower() for k in keys], item=item, **opts))
        self.wait_task(task_id, item=item, timeout=timeout)
        repo_id = self.call("getTaskRequest", task_id, item=item)[1]  # distRepo's request: [tag, repo_id, keys, opts]
        return koji.PathInfo(topdir=self.topurl).distrepo(repo_id, tag)

    def build_image_oz(
        self,
        name: str,
        version: str,
        arches: Sequence[str],
        target: str,
        inst_tree: str,
        opts: Mapping[str, Any],
        *,
        item: str,
    ) -> int:
        """Submit an ``image`` task (``buildImageOz``, koji image-build) and return its id. Not idempotent: every
        call is a new task and image build (Koji picks the next free release)."""
        return int(self.call("buildImageOz", name, version, list(arches), target, inst_tree, dict(opts), item=item))

    def build_livemedia(
        self,
        name: str,
        version: str,
        arches: Sequence[str],
        target: str,
        ksfile: str,
        opts: Mapping[str, Any],
        *,
        item: str,
    ) -> int:
        """Submit a ``livemedia`` task (``buildImage(..., 'livemedia', opts)``, koji spin-livemedia) and return its
        id. Not idempotent: every call is a new task and image build."""
        args = (name, version, list(arches), target, ksfile, "livemedia", dict(opts))
        return int(self.call("buildImage", *args, item=item))

    def image_result(self, task_id: int, *, item: str) -> list[KojiImage]:
        """The image files of a finished image task: its ``createImage`` children's results
        (``getTaskChildren(request=True)``, ``getTaskResult``) joined with the build's archives (``listArchives``).

        Read-only. A scratch task (no image build) or a file Koji did not import is a :class:`KojiError`.
        """
        children = self.call("getTaskChildren", task_id, request=True, item=item)
        creates = [c for c in children or [] if c.get("method") in IMAGE_SUBTASKS]
        if not creates:
            raise KojiError(item, f"task {task_id} has no {' or '.join(IMAGE_SUBTASKS)} subtask")
        results = self.multicall([("getTaskResult", (c["id"],), {}, f"{item}: task {c['id']}") for c in creates])
        pathinfo = koji.PathInfo(topdir=self.topurl)
        out: list[KojiImage] = []
        for child, result in zip(creates, results, strict=True):
            nvr = f"{result['name']}-{result['version']}-{result['release']}"
            build = self.call("getBuild", nvr, item=item)
            if not build:
                raise KojiError(item, f"task {child['id']} made no image build {nvr} (a scratch build?)")
            archives = {
                a["filename"]: a for a in self.call("listArchives", buildID=build["id"], type="image", item=item) or []
            }
            rpms = tuple(sorted({f"{r['name']}-{r['version']}-{r['release']}" for r in result.get("rpmlist") or []}))
            for filename in result.get("files") or []:
                archive = archives.get(filename)
                if archive is None:
                    raise KojiError(item, f"image build {nvr} has no archive {filename}")
                out.append(
                    KojiImage(
                        task_id=int(child["id"]),
                        build=nvr,
                        arch=str(result["arch"]),
                        filename=filename,
                        url=f"{pathinfo.imagebuild(build)}/{filename}",
                        size=int(archive.get("size") or 0),
                        checksum=str(archive.get("checksum") or ""),
                        checksum_type=koji.CHECKSUM_TYPES[archive.get("checksum_type") or 0],
                        rpms=rpms,
                    )
                )
        return out
