"""The autosign tasks at the client seam: the real KojiClient over a real koji.ClientSession whose transport is a
fake hub (builds, tags, RPMs, signatures, signed copies are its state), a fake signer, and fake RPM files (the
signature header of a "signed copy" names its key). Asserts the hub's state afterwards and that a rerun sends
nothing."""

from __future__ import annotations

import base64
import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import koji
import pytest
from airflow.sdk.exceptions import AirflowFailException
from operators.autosign_steps import AutosignBuildOperator, AutosignListOperator, AutosignSummaryOperator
from push_support import FakeTI

import relengotron.autosign_run as autosign_run
from relengotron.airflow.hooks import KojiHook, SigningHook
from relengotron.autosign import AutosignError
from relengotron.config import ReleaseConfig
from relengotron.kojiclient import KojiClient, KojiTransientError
from relengotron.signing.base import SigningError
from relengotron.tools.remote import RemoteError
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

KEY, OTHER = "0123abcd", "deadbeef"
PENDING, NEXT = "f24-signing-pending", "f24-updates-testing-pending"
BASH, OPENSSH, CURL = "bash-4.3.42-6.fc24", "openssh-7.2p2-10.fc24", "curl-7.47.1-6.fc24"
WRITES = ("addRPMSig", "writeSignedRPM", "tagBuild", "untagBuild")


class FakeHub(koji.ClientSession):
    """A real ClientSession whose transport answers from this hub's state (multicalls included)."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9/kojihub")
        self.tags: dict[str, set[str]] = {}  # NVR → tags
        self.rpms: dict[int, dict[str, Any]] = {}
        self.sigs: dict[int, set[str]] = {}  # rpm id → sigkeys ("" = unsigned)
        self.written: set[tuple[int, str]] = set()  # signed copies (rpm id, key)
        self.sent: list[tuple[Any, ...]] = []  # state-changing calls
        self.offline = False
        self.race: set[int] = set()  # rpm ids another signer signs just before our addRPMSig
        self._ids = itertools.count(1)

    def add(self, nvr: str, tags: set[str], *keys: set[str]) -> None:
        """A build with one RPM per entry of ``keys`` (src, noarch), each signed with those keys."""
        self.tags[nvr] = set(tags)
        name, version, release = nvr.rsplit("-", 2)
        for arch, signed in zip(("src", "noarch"), keys, strict=False):
            rpm_id = next(self._ids)
            self.rpms[rpm_id] = {"id": rpm_id, "build_id": hash(nvr) % 10000, "name": name, "version": version,
                                 "release": release, "arch": arch, "epoch": None, "nvr": nvr}  # fmt: skip
            self.sigs[rpm_id] = {"", *signed}

    def sigkeys(self, nvr: str) -> list[set[str]]:
        return [self.sigs[i] - {""} for i, r in sorted(self.rpms.items()) if r["nvr"] == nvr]

    def _callMethod(self, name: str, args: Any, kwargs: Any = None, retry: bool = True) -> Any:
        if self.offline:
            raise koji.ServerOffline("hub offline for maintenance")
        if name == "multiCall":
            out = []
            for call in args[0]:
                params, opts = koji.decode_args(*call["params"])
                try:
                    out.append([self._answer(call["methodName"], params, opts)])
                except koji.GenericError as exc:
                    out.append({"faultCode": exc.faultCode, "faultString": str(exc)})
            return out
        return self._answer(name, args, kwargs or {})

    def _answer(self, name: str, args: Any, kwargs: dict[str, Any]) -> Any:
        if name in WRITES:
            self.sent.append((name, *args))
        return getattr(self, f"_{name}")(*args, **kwargs)

    def _build(self, nvr: str) -> dict[str, Any]:
        if nvr not in self.tags:
            raise koji.GenericError(f"No such build: {nvr!r}")
        name, version, release = nvr.rsplit("-", 2)
        return {"id": hash(nvr) % 10000, "nvr": nvr, "name": name, "version": version, "release": release,
                "epoch": None, "owner_name": "kdudka"}  # fmt: skip

    def _getBuild(self, nvr: str, strict: bool = False) -> dict[str, Any]:
        return self._build(nvr)

    def _listRPMs(self, buildID: int) -> list[dict[str, Any]]:
        return [r for r in self.rpms.values() if r["build_id"] == buildID]

    def _queryRPMSigs(self, rpm_id: int) -> list[dict[str, Any]]:
        return [{"rpm_id": rpm_id, "sigkey": k, "sighash": f"h{k}"} for k in sorted(self.sigs[rpm_id])]

    def _listTags(self, build: str) -> list[dict[str, Any]]:
        self._build(build)
        return [{"name": t} for t in sorted(self.tags[build])]

    def _getTag(self, tag: str) -> dict[str, Any]:
        return {"name": tag}

    def _listTagged(self, tag: str, latest: bool = False, inherit: bool = False) -> list[dict[str, Any]]:
        return [self._build(nvr) for nvr, tags in sorted(self.tags.items()) if tag in tags]

    def _addRPMSig(self, rpm_id: int, data: str) -> None:
        key = base64.b64decode(data).decode().removeprefix("signature by ")
        if rpm_id in self.race:
            self.sigs[rpm_id].add(key)
        if key in self.sigs[rpm_id]:
            raise koji.GenericError(f"Signature already exists for package {rpm_id}, key {key}")
        self.sigs[rpm_id].add(key)

    def _writeSignedRPM(self, rpm_id: int, sigkey: str, force: bool = False) -> None:
        if sigkey not in self.sigs[rpm_id]:
            raise koji.GenericError(f"No cached signature for package {rpm_id}, key {sigkey}")
        self.written.add((rpm_id, sigkey))

    def _tagBuild(self, tag: str, nvr: str, fromtag: str | None = None) -> int:
        self.tags[nvr].add(tag)
        self.tags[nvr].discard(fromtag or "")
        return 7

    def _untagBuild(self, tag: str, nvr: str) -> None:
        self.tags[nvr].discard(tag)

    def _getTaskInfo(self, task_id: int, strict: bool = False) -> dict[str, Any]:
        return {"id": task_id, "state": koji.TASK_STATES["CLOSED"]}


class FakeFiles:
    """The RPM files: a "signed copy"'s header names the key; verifying checks Koji wrote every copy."""

    signed: list[str] = []  # RPM files signed, across instances

    def __init__(self, client: KojiClient, signer: Any, workdir: Path) -> None:
        self.hub: FakeHub = client.session
        self.signer = signer
        assert workdir.is_dir()

    def signature_headers(self, build: Any, rpms: Any) -> dict[int, bytes]:
        FakeFiles.signed.extend(r.filename for r in rpms)
        return {r.id: f"signature by {self.signer.key_id}".encode() for r in rpms}

    def verify_served(self, build: Any, rpms: Any, key: str) -> None:
        missing = [r.filename for r in rpms if (r.id, key) not in self.hub.written]
        if missing:
            raise AutosignError(build.nvr, f"no signed copy of {missing}")


class FakeSigner:
    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        self.name = f"gpg:/srv/{key_id}"

    def check(self) -> None:
        return None


@pytest.fixture
def config(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReleaseConfig:
    rendered = render_release_config(world, KEY, tmp_path)
    monkeypatch.setattr("relengotron.airflow.hooks.release_config", lambda path=None: rendered)
    return rendered


@pytest.fixture
def hub(config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    fake = FakeHub()
    fake.add(BASH, {PENDING}, set(), set())
    fake.add(OPENSSH, {PENDING}, set(), set())
    import relengotron.kojiclient as kojiclient

    monkeypatch.setattr(KojiHook, "fields", property(lambda self: {"hub": "http://127.0.0.1:9/kojihub", "topurl": "x"}))
    monkeypatch.setattr(kojiclient, "connect", lambda conn: KojiClient(fake, conn.topurl, poll_interval=0.01))
    monkeypatch.setattr(SigningHook, "signer", lambda self, key_id: FakeSigner(key_id))
    monkeypatch.setattr(autosign_run, "KojiRpmFiles", FakeFiles)
    FakeFiles.signed = []
    yield fake


def sign(nvr: str, *, from_tag: str = PENDING, to_tag: str | None = NEXT, ti: Any = None) -> dict[str, Any]:
    return AutosignBuildOperator(
        task_id="sign_build", nvr=nvr, release="f24", from_tag=from_tag, to_tag=to_tag
    ).execute({"ti": ti if ti is not None else FakeTI()})


def list_builds(release: str, builds: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The list task's items and the NVRs it left for the next run (its XCom ``left_over``)."""
    ti = FakeTI()
    items = AutosignListOperator(task_id="list_builds", release=release, builds=builds).execute({"ti": ti})
    return items, ti.xcoms["left_over"]


def report(items: Any, outcomes: Any, left_over: Any) -> dict[str, Any]:
    return AutosignSummaryOperator(task_id="summarize", items=items, outcomes=outcomes, left_over=left_over).execute({})


def test_a_waiting_build_is_signed_recorded_verified_and_moved_and_a_rerun_sends_nothing(hub: FakeHub) -> None:
    done = sign(BASH)
    assert (done["outcome"], done["rpms_signed"], done["moved"], done["key"]) == ("signed", 2, True, KEY)
    assert hub.tags[BASH] == {NEXT} and hub.tags[OPENSSH] == {PENDING}
    assert hub.sigkeys(BASH) == [{KEY}, {KEY}]
    assert {(i, k) for i, k in hub.written if hub.rpms[i]["nvr"] == BASH} == {(1, KEY), (2, KEY)}
    assert FakeFiles.signed == [f"{BASH}.noarch.rpm", f"{BASH}.src.rpm"]
    sent = len(hub.sent)
    again = sign(BASH)
    assert (again["outcome"], again["rpms_signed"], again["moved"]) == ("done", 0, False)
    assert again["reason"] == f"already in {NEXT}"
    assert len(hub.sent) == sent and len(FakeFiles.signed) == 2  # nothing sent, nothing signed again


def test_a_run_interrupted_between_signing_and_moving_finishes_the_move(hub: FakeHub) -> None:
    hub.add(CURL, {PENDING}, {KEY}, {KEY})  # signatures imported; copies not written; not moved
    done = sign(CURL)
    assert (done["outcome"], done["rpms_signed"], done["moved"]) == ("signed", 0, True)
    assert FakeFiles.signed == [] and hub.tags[CURL] == {NEXT}
    assert not [s for s in hub.sent if s[0] == "addRPMSig"]  # no signature imported again
    assert {k for i, k in hub.written if hub.rpms[i]["nvr"] == CURL} == {KEY}


def test_only_the_rpms_koji_has_no_signature_of_the_key_for_are_signed(hub: FakeHub) -> None:
    hub.add(CURL, {PENDING, NEXT}, {KEY}, set())  # half signed, and half moved
    done = sign(CURL)
    assert (done["rpms_signed"], done["moved"]) == (1, True)
    assert FakeFiles.signed == [f"{CURL}.noarch.rpm"] and hub.tags[CURL] == {NEXT}


def test_a_signature_another_signer_recorded_meanwhile_is_taken_as_done(hub: FakeHub) -> None:
    hub.race = {1}  # bash's src RPM
    assert sign(BASH)["outcome"] == "signed"
    assert hub.sigkeys(BASH) == [{KEY}, {KEY}] and hub.tags[BASH] == {NEXT}


def test_an_rpm_signed_with_another_key_is_refused_and_nothing_is_written(hub: FakeHub) -> None:
    hub.add(CURL, {PENDING}, set(), {OTHER})
    ti = FakeTI()
    with pytest.raises(AirflowFailException) as caught:
        sign(CURL, ti=ti)
    reason = f"1 RPM(s) signed with a different key than the release key {KEY}: {CURL}.noarch.rpm"
    assert f"{CURL}: {reason}" in str(caught.value)
    # the refusal is recorded where the dashboard reads it
    assert ti.xcoms["refused"]["nvr"] == CURL and ti.xcoms["refused"]["reason"].startswith(reason)
    assert hub.sent == [] and hub.tags[CURL] == {PENDING} and FakeFiles.signed == []


def test_a_key_the_signer_does_not_have_is_refused(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_key(self: Any, key_id: str) -> Any:
        raise SigningError(f"gpg:/srv/gnupg: no secret key {key_id!r}")

    monkeypatch.setattr(SigningHook, "signer", no_key)
    with pytest.raises(AirflowFailException, match=rf"the release key {KEY} is not available to the signer: gpg:/srv"):
        sign(BASH)
    assert hub.sent == [] and hub.tags[BASH] == {PENDING}


def test_a_signer_of_another_key_is_refused(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SigningHook, "signer", lambda self, key_id: FakeSigner(OTHER))
    with pytest.raises(AirflowFailException, match=rf"gpg:/srv/{OTHER} signs with key {OTHER}, not {KEY}"):
        sign(BASH)
    assert hub.sent == []


def test_a_release_without_a_key_is_refused(
    hub: FakeHub, config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    f24 = dataclasses.replace(config.release("f24"), signing_key=None, signing_chain=())
    unsigned = dataclasses.replace(config, releases={**config.releases, "f24": f24})
    monkeypatch.setattr("relengotron.airflow.hooks.release_config", lambda path=None: unsigned)
    items, _ = list_builds("f24", [])
    assert items == [{"nvr": n, "release": "f24", "from_tag": PENDING, "to_tag": None} for n in (BASH, OPENSSH)]
    with pytest.raises(AirflowFailException, match=f"tag {PENDING} has no signing key configured"):
        sign(BASH, to_tag=None)
    assert hub.sent == []


def test_a_signing_host_out_of_reach_and_an_offline_hub_are_retried(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relengotron.adapters.errors import TransientError

    def unreachable(self: Any, key_id: str) -> Any:
        try:
            raise RemoteError("sign-bridge: cannot connect: Connection refused")
        except RemoteError as exc:
            raise SigningError(f"sigul:fedora-24@sign-bridge: {exc}") from exc

    monkeypatch.setattr(SigningHook, "signer", unreachable)
    with pytest.raises(TransientError, match="cannot connect"):
        sign(BASH)
    hub.offline = True
    with pytest.raises(KojiTransientError):
        sign(BASH)
    assert hub.sent == []


def test_the_listing_sweeps_or_takes_named_builds_and_fails_on_an_unknown_one(hub: FakeHub) -> None:
    hub.add(CURL, {"f24-updates"}, {KEY}, {KEY})
    items, left = list_builds("f24", None)
    assert [i["nvr"] for i in items] == [BASH, OPENSSH] and left == []
    items, _ = list_builds("f24", [CURL, BASH])
    assert items == [{"nvr": n, "release": "f24", "from_tag": PENDING, "to_tag": NEXT} for n in (CURL, BASH)]
    assert sign(CURL)["reason"].startswith(f"every RPM already carries key {KEY} and it left {PENDING}")
    with pytest.raises(AirflowFailException, match=r"build nope-1-1\.fc24: No such build"):
        list_builds("f24", ["nope-1-1.fc24"])
    with pytest.raises(AirflowFailException, match="unknown release 'f99'"):
        list_builds("f99", [])


def test_the_report_fails_naming_the_builds_not_done() -> None:
    items = [{"nvr": BASH}, {"nvr": OPENSSH}]
    done = {"nvr": BASH, "outcome": "signed"}
    assert report(items, [done, {"nvr": OPENSSH, "outcome": "done"}], [])["signed"] == 1
    with pytest.raises(AirflowFailException, match=rf"1 not done, 0 left for the next run; not signed .*: {OPENSSH}"):
        report(items, [done], [])
    with pytest.raises(AirflowFailException, match="did the task listing them fail"):
        report(None, None, None)
