"""Automatic signing, the I/O side: list the builds waiting, then sign, record, verify and move one build.

The decisions are pure (:mod:`relengotron.autosign`); here they are fed from Koji and carried out with the
library's own parts: the Koji adapter (:class:`relengotron.kojiclient.KojiClient`: reads in multicalls,
idempotent moves), the mash's fetching and checking of RPMs (:func:`relengotron.mash.repo.fetch_rpms`,
:func:`relengotron.mash.repo.check_rpms`: sizes, header+payload digests, the key in each header,
``rpmkeys -K``) and a :class:`relengotron.signing.Signer` (local GPG or sigul), which checks an RPM is not
signed already and verifies what it signed.

Signing one build (:func:`autosign_build`): download the unsigned copy of each RPM Koji has no signature of
the release key for, sign it, import its signature header into Koji (``addRPMSig``), have Koji write the
signed copy of every RPM (``writeSignedRPM`` with the key id), download the copies Koji now serves and verify
them with the release's public key, then move the build along the chain. Each step looks before it writes,
so a rerun after a crash anywhere finishes the work and a rerun after success changes nothing.
"""

from __future__ import annotations

import base64
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import koji

from relengotron.adapters.errors import TransientError
from relengotron.autosign import (
    DONE,
    SIGNED,
    AutosignError,
    BuildState,
    Item,
    Outcome,
    RpmSigs,
    Selection,
    plan_build,
    release_steps,
    select,
)
from relengotron.kojiclient import KojiBuild, KojiClient, KojiError, KojiRPM, KojiTransientError
from relengotron.mash import repo
from relengotron.mash.errors import MashError, MashTransientError
from relengotron.mash.plan import PlannedRPM
from relengotron.signing.base import Signer, SigningError
from relengotron.tools.remote import RemoteError

if TYPE_CHECKING:
    from relengotron.config import Release

log = logging.getLogger(__name__)


def list_builds(client: KojiClient, release: Release, wanted: Sequence[str] = (), *, limit: int) -> Selection:
    """The builds of ``release`` a run works on: every build waiting in its chain's from-tags, or ``wanted``.

    Read-only. A tag that does not exist, or a named NVR Koji does not know, is a
    :class:`relengotron.kojiclient.KojiNotFoundError` naming it (bad input).
    """
    steps = release_steps(release)
    sources = list(dict.fromkeys(step.from_tag for step in steps))
    waiting = {tag: [b.nvr for b in client.tagged(tag)] for tag in sources}
    selection = select(release.id, steps, waiting, wanted, limit=limit)
    if selection.not_waiting:
        client.builds(selection.not_waiting)  # raises naming every NVR that does not exist
    return selection


def read_state(client: KojiClient, nvr: str) -> tuple[KojiBuild, list[KojiRPM], BuildState]:
    """The build, its RPMs and what Koji says now (tags, signatures): five requests however many RPMs."""
    build = client.builds([nvr])[nvr]
    rpms = client.rpms_of([build])[build.id]
    sigs = client.rpm_sigkeys(rpms) if rpms else {}
    state = BuildState(
        nvr=nvr,
        tags=frozenset(client.tags_of(nvr)),
        rpms=tuple(RpmSigs(r.id, r.filename, frozenset(k for k in sigs.get(r.id, {}) if k)) for r in rpms),
    )
    return build, rpms, state


class RpmFiles(Protocol):
    """The RPM files of a build: signing copies of them here, checking the copies Koji serves."""

    def signature_headers(self, build: KojiBuild, rpms: Sequence[KojiRPM]) -> dict[int, bytes]:
        """RPM id → the signature header of its copy signed with the signer's key."""

    def verify_served(self, build: KojiBuild, rpms: Sequence[KojiRPM], key: str) -> None:
        """Raise AutosignError unless every signed copy Koji serves for ``key`` verifies with the public key."""


class KojiRpmFiles:
    """:class:`RpmFiles` over Koji's topurl and a signer, working in ``workdir`` (the caller removes it)."""

    def __init__(self, client: KojiClient, signer: Signer, workdir: Path) -> None:
        self.client = client
        self.signer = signer
        self.workdir = workdir

    def signature_headers(self, build: KojiBuild, rpms: Sequence[KojiRPM]) -> dict[int, bytes]:
        """Download the unsigned copies, sign them (the signer verifies each one), rip the headers. Writes
        only in ``workdir``."""
        fetched = self._fetch(build, rpms, None, "unsigned")
        try:
            self.signer.sign_rpms([f.path for f in fetched])
        except SigningError as exc:
            raise _signing_failure(exc, build.nvr) from exc
        return {f.planned.rpm.id: koji.rip_rpm_sighdr(str(f.path)) for f in fetched}

    def verify_served(self, build: KojiBuild, rpms: Sequence[KojiRPM], key: str) -> None:
        """Download the signed copies Koji serves and check each one: the release key in its header, Koji's
        header+payload digest, its NVR, and ``rpmkeys -K`` with the release's public key. Read-only."""
        public_key = self.signer.export_public_key(self.workdir / f"RPM-GPG-KEY-{key}")
        fetched = self._fetch(build, rpms, key, "served")
        try:
            repo.check_rpms(fetched, [public_key])
        except MashError as exc:
            raise AutosignError(build.nvr, f"the signed copy Koji serves does not verify: {exc}") from exc

    def _fetch(self, build: KojiBuild, rpms: Sequence[KojiRPM], key: str | None, where: str) -> list[repo.Fetched]:
        planned = [PlannedRPM(build, r, self.client.rpm_url(build, r, key), key, "") for r in rpms]
        try:
            return repo.fetch_rpms(planned, self.workdir / where, workers=2)
        except MashTransientError as exc:
            raise TransientError("koji", build.nvr, str(exc)) from exc
        except MashError as exc:
            raise AutosignError(build.nvr, f"cannot fetch from Koji: {exc}") from exc


def usable_signer(make: Callable[[], Signer], key: str) -> tuple[Signer | None, str | None]:
    """The signer for ``key`` after checking it can sign (read-only), or None and why it cannot.

    A signing host that cannot be reached is not an answer: :class:`TransientError` (retry later).
    """
    try:
        signer = make()
        signer.check()
    except (SigningError, ValueError) as exc:
        if isinstance(exc.__cause__, RemoteError):
            raise TransientError("signing", key, str(exc)) from exc
        return None, str(exc)
    if signer.key_id != key:
        return None, f"{signer.name} signs with key {signer.key_id}, not {key}"
    return signer, None


def autosign_build(
    client: KojiClient,
    item: Item,
    key: str | None,
    make_signer: Callable[[], Signer],
    *,
    files: Callable[[KojiClient, Signer, Path], RpmFiles] | None = None,
    timeout: float = 3600.0,
) -> Outcome:
    """Sign, record, verify and move one build (see the module docstring); the :class:`Outcome`.

    Idempotent: RPMs Koji already has a signature of ``key`` for are not signed again, Koji's signed copies
    are written only where missing, and a build already in the next tag is done (``outcome`` ``done``, nothing
    sent). A run interrupted between signing and moving finishes the move. A refusal raises
    :class:`AutosignError` with the reason before anything is written; the build stays where it is.
    ``files``: how the RPM files are signed and checked (default :class:`KojiRpmFiles`).
    """
    build, rpms, state = read_state(client, item.nvr)
    plan = plan_build(state, item, key)
    signer = None
    if plan.action == "sign":
        assert key is not None
        signer, problem = usable_signer(make_signer, key)
        if problem:
            plan = plan_build(state, item, key, signer_problem=problem)

    def outcome(kind: str, reason: str, *, signed: int = 0, moved: bool = False) -> Outcome:
        return Outcome(
            nvr=item.nvr,
            release=item.release,
            key=key,
            from_tag=item.from_tag,
            to_tag=item.to_tag,
            outcome=kind,
            rpms_signed=signed,
            moved=moved,
            reason=reason,
            package=build.name,
            owner=build.owner,
        )

    if plan.action == "refuse":
        raise AutosignError(item.nvr, plan.reason)
    if plan.action == "done":
        log.info("%s: done, %s", item.nvr, plan.reason)
        return outcome(DONE, plan.reason)
    assert key is not None and signer is not None and item.to_tag is not None
    log.info("%s: %s", item.nvr, plan.reason)
    to_sign = set(plan.to_sign)
    todo = [r for r in rpms if r.id in to_sign]
    with tempfile.TemporaryDirectory(prefix="autosign-") as tmp:
        rpm_files = (files or KojiRpmFiles)(client, signer, Path(tmp))
        if todo:
            import_signatures(client, todo, rpm_files.signature_headers(build, todo), key)
        client.multicall([("writeSignedRPM", (r.id, key), {}, f"rpm {r.nvra}") for r in rpms])
        rpm_files.verify_served(build, rpms, key)
    moved = client.move_build(item.from_tag, item.to_tag, item.nvr, timeout=timeout)
    changed = bool(todo) or moved
    reason = f"{len(todo)} of {len(rpms)} RPM(s) signed with {key}, " + (
        f"moved {item.from_tag} → {item.to_tag}" if moved else f"already in {item.to_tag}"
    )
    return outcome(SIGNED if changed else DONE, reason, signed=len(todo), moved=moved)


def import_signatures(client: KojiClient, rpms: Sequence[KojiRPM], headers: dict[int, bytes], key: str) -> None:
    """Record each RPM's signature header in Koji (``addRPMSig``, base64 as the hub takes it), one multicall.

    Koji refuses a second signature of one key for one RPM; when another signer recorded it meanwhile, that
    refusal is success: afterwards every RPM must have a signature of ``key`` (else the refusal is raised).
    """
    calls = [("addRPMSig", (r.id, base64.b64encode(headers[r.id]).decode()), {}, f"rpm {r.nvra}") for r in rpms]
    try:
        client.multicall(calls)
    except KojiTransientError:
        raise
    except KojiError:
        now = client.rpm_sigkeys(rpms)
        if any(key not in now.get(r.id, {}) for r in rpms):
            raise


def _signing_failure(exc: SigningError, nvr: str) -> Exception:
    if isinstance(exc.__cause__, RemoteError):
        return TransientError("signing", nvr, str(exc))
    return AutosignError(nvr, f"signing failed: {exc}")
