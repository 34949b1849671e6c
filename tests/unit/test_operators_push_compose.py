"""The updates_push mash, compose and website operators at the client seam: the mash with a fake Koji and a
stand-in for the mash itself, the OSTree and image composes with the artifact plugin's Koji-facing steps faked
(the image compose deferring on the Koji task it submitted, and never submitting a second one), the compose
context of a ``compose: remote`` artifact built over the SSH provider's hook, and the website written from a
temporary staging tree and synced."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from push_support import GCE, GCE_MANIFEST, PARAMS, RUN_AFTER, UPDATES, FakeSigner, FakeTI, context, put_image
from test_operators_push import gce_item

from relengotron.artifacts import ArtifactError, ComposeOutput, ImageOutput, OSTreeOutput, load_release_config
from relengotron.config import ReleaseConfig
from relengotron.kojiclient import KojiTransientError
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch) -> ReleaseConfig:
    rendered = render_release_config(world, "0123abcd", tmp_path)
    monkeypatch.setattr("relengotron.airflow.hooks.release_config", lambda path=None: rendered)
    return rendered


class FakeKoji:
    topurl = "http://koji.test/kojifiles"

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


# --- mash ------------------------------------------------------------------------------------------------


def test_mash_writes_the_stream_repository_and_signs_it(config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.mash import MashOperator

    from relengotron.mash import MashError, MashResult, MashTransientError

    koji, signer = FakeKoji(), FakeSigner()
    monkeypatch.setattr("relengotron.airflow.hooks.KojiHook.client", property(lambda self: koji))
    monkeypatch.setattr("relengotron.airflow.connections.release_signer", lambda *a: signer)
    repos: dict[Path, tuple[str, ...]] = {}

    def mash(client: Any, release: Any, tag: str, dest: Path, updates: Any, **kw: Any) -> MashResult:
        assert client is koji and (tag, kw["status"], kw["issued"]) == ("f24-updates", "stable", RUN_AFTER)
        assert [u.alias for u in updates] == ["FEDORA-2016-aaaa"] and [p.name for p in kw["public_keys"]] == [
            "release.asc"
        ]
        content = (f"glibc-2.23.1-8.fc24.{'src' if kw['arch'] == 'SRPMS' else 'noarch'}.rpm",)
        changed = repos.get(dest) != content
        repos[dest] = content
        return MashResult(dest, changed, "digest", 1466000000, content, ("FEDORA-2016-aaaa",), {})

    monkeypatch.setattr("relengotron.mash.mash", mash)
    first = MashOperator(task_id="mash", updates=UPDATES).execute(context())
    staging = Path(config.mirror.staging)

    def mashed(arch: str, rpm: str) -> dict[str, Any]:
        return {
            "arch": arch,
            "path": f"linux/updates/24/{arch}",
            "changed": True,
            "packages": [rpm],
            "updates": ["FEDORA-2016-aaaa"],
            "revision": 1466000000,
        }

    # per arch the binary repository and its debug/ repository (each signed), then the sources
    assert first == [
        mashed("x86_64", "glibc-2.23.1-8.fc24.noarch.rpm"),
        mashed("SRPMS", "glibc-2.23.1-8.fc24.src.rpm"),
    ]
    x86_64, sources = staging / "linux/updates/24/x86_64", staging / "linux/updates/24/SRPMS"
    assert signer.signed == [("repomd", str(x86_64)), ("repomd", f"{x86_64}/debug"), ("repomd", str(sources))]
    assert koji.closed == 1
    assert (
        MashOperator(task_id="mash", updates=UPDATES).execute(context())[0]["changed"] is False
    )  # rerun: the same repository
    testing = MashOperator(task_id="mash", updates=UPDATES)
    monkeypatch.setattr(
        "relengotron.mash.mash", lambda c, r, tag, dest, u, **kw: MashResult(dest, True, "d", 1, (), (), {})
    )
    assert (
        testing.execute(context({**PARAMS, "repo": "f24-updates-testing"}))[0]["path"]
        == "linux/updates/testing/24/x86_64"
    )

    def refuse(*a: Any, **kw: Any) -> None:
        raise MashError("glibc-2.23.1-8.fc24.noarch.rpm", "not signed with key 0123abcd")

    monkeypatch.setattr("relengotron.mash.mash", refuse)
    with pytest.raises(AirflowFailException, match=r"glibc-2\.23\.1-8\.fc24\.noarch\.rpm: not signed"):
        MashOperator(task_id="mash", updates=UPDATES).execute(context())

    def unreachable(*a: Any, **kw: Any) -> None:
        raise MashTransientError("http://koji.test/kojifiles/x.rpm", "connection refused")

    monkeypatch.setattr("relengotron.mash.mash", unreachable)
    from relengotron.adapters.errors import TransientError

    with pytest.raises(TransientError, match="connection refused"):  # retried, not failed at once
        MashOperator(task_id="mash", updates=UPDATES).execute(context())


# --- composes ---------------------------------------------------------------------------------------------


def atomic_item() -> dict[str, Any]:
    return {
        "id": "atomic-host-24-x86_64",
        "artifact": "atomic-host",
        "kind": "ostree",
        "release": "f24",
        "arch": "x86_64",
        "label": "fedora/24/x86_64/atomic-host",
        "decision": "recompose",
        "reason": "never released",
        "manifest": list(GCE_MANIFEST.nvrs),
        "updates": ["FEDORA-2016-aaaa"],
    }


@pytest.fixture
def fake_context(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A push task's compose context is a stand-in (no Koji login, no signer); the contexts made are listed."""
    made: list[Any] = []

    @contextmanager
    def compose_context(task: Any, plugin: Any, remote: Any = None) -> Any:
        ctx = SimpleNamespace(tag=task.push.tag, connections=task.clients.connections)
        made.append(ctx)
        yield ctx

    monkeypatch.setattr("relengotron.airflow.push.PushTask.compose_context", compose_context)
    return made


def plugin_of(config: ReleaseConfig, item: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    from relengotron.push_run import plugin_for

    plugin = plugin_for(config, item)
    monkeypatch.setattr("relengotron.push_run.plugin_for", lambda c, i: plugin)
    return plugin


def test_ostree_compose_returns_the_candidate_and_what_the_tests_need(
    config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch, fake_context: list[Any]
) -> None:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
    from operators.compose import ArtifactComposeOperator

    plugin = plugin_of(config, atomic_item(), monkeypatch)
    commits: list[str] = []
    when = "2016-06-01T12:00:00+00:00"

    def compose(ctx: Any, manifest: Any) -> ComposeOutput:
        assert ctx.tag == "f24-updates" and manifest == GCE_MANIFEST
        commits.append("c" * 64)
        shared, staging = str(config.ostree.repo), str(config.mirror.staging / "linux/atomic/repo")
        tree = OSTreeOutput(shared, staging, plugin.ref, "c" * 64, None, "24.1", ())
        return ComposeOutput(
            plugin.id, "ostree", plugin.label, manifest, True, ("linux/atomic/repo",), ostree=tree, composed_at=when
        )

    plugin.compose = compose
    ti = FakeTI()
    out = ArtifactComposeOperator(task_id="compose", kind="ostree", item=atomic_item()).execute(context(ti=ti))
    assert out["ostree"]["commit"] == "c" * 64 and commits == ["c" * 64]
    assert ti.xcoms["since"] == when  # a new candidate: only results submitted since its compose count
    assert ti.xcoms["announcement"]["ostree"] == {  # by URL: the configuration's translate_paths (not served here)
        "url": "http://compose.invalid/ostree/repo",
        "ref": "fedora/24/x86_64/atomic-host",
        "commit": "c" * 64,
        "version": "24.1",
    }
    assert ti.xcoms["subject"] == {
        "type": "compose-artifact",
        "item": "atomic-host-24-x86_64",
        "name": "atomic-host",
        "label": "fedora/24/x86_64/atomic-host",
    }
    with pytest.raises(AirflowSkipException, match="atomic-host: unchanged"):
        skipped = {**atomic_item(), "decision": "skip", "reason": "unchanged, skipped: no pushed package is in it"}
        ArtifactComposeOperator(task_id="compose", kind="ostree", item=skipped).execute(context())
    with pytest.raises(AirflowFailException, match="a gce artifact is not composed by this ostree task"):
        ArtifactComposeOperator(task_id="compose", kind="ostree", item=gce_item()).execute(context())
    assert commits == ["c" * 64]  # neither of those composed

    def broken(ctx: Any, manifest: Any) -> None:
        raise ArtifactError(plugin.label, "bash-4.3.42-6.fc24.noarch.rpm is not signed with key 0123abcd")

    plugin.compose = broken
    with pytest.raises(AirflowFailException, match=r"atomic-host: bash-4\.3\.42-6\.fc24\.noarch\.rpm is not signed"):
        ArtifactComposeOperator(task_id="compose", kind="ostree", item=atomic_item()).execute(context())

    def offline(ctx: Any, manifest: Any) -> None:
        raise KojiTransientError(plugin.label, "Koji is unavailable")

    plugin.compose = offline
    with pytest.raises(KojiTransientError):  # retried with backoff
        ArtifactComposeOperator(task_id="compose", kind="ostree", item=atomic_item()).execute(context())


class FakeImageKoji:
    """The image plugin's Koji-facing steps: a task recorded per manifest, as the candidate's marker does."""

    def __init__(self, plugin: Any, staging: Path) -> None:
        self.plugin = plugin
        self.staging = staging
        self.submitted: list[int] = []
        self.finished: list[int] = []
        self.recorded: dict[str, int] = {}

    def prepare(self, ctx: Any, manifest: Any) -> ComposeOutput | None:
        return None

    def submit(self, ctx: Any, manifest: Any) -> int:
        if manifest.input_hash not in self.recorded:
            self.submitted.append(41 + len(self.submitted) + 1)
            self.recorded[manifest.input_hash] = self.submitted[-1]
        return self.recorded[manifest.input_hash]

    def finish(self, ctx: Any, manifest: Any, task: int) -> ComposeOutput:
        self.finished.append(task)
        digest = put_image(self.staging / ".relengotron/candidates", GCE)
        path = str(self.staging / ".relengotron/candidates" / GCE)
        image = ImageOutput(path, digest, 9, f"{path}-CHECKSUM", f"{path}.manifest.json", "b-1", task)
        return ComposeOutput(self.plugin.id, "gce", self.plugin.label, manifest, True, (), image=image)


def test_image_compose_defers_on_its_koji_task_and_never_submits_twice(
    config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch, fake_context: list[Any]
) -> None:
    from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
    from operators.compose import ArtifactComposeOperator

    from relengotron.airflow.triggers import KojiTaskTrigger

    plugin = plugin_of(config, gce_item(), monkeypatch)
    koji = FakeImageKoji(plugin, Path(config.mirror.staging))
    plugin.prepare, plugin.submit, plugin.finish = koji.prepare, koji.submit, koji.finish
    task = ArtifactComposeOperator(task_id="compose", kind="gce", item=gce_item(), poll_interval=0.5)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, KojiTaskTrigger) and (trigger.koji_task_id, trigger.poll_interval) == (42, 0.5)
    assert deferred.value.method_name == "execute_complete"
    with pytest.raises(TaskDeferred) as again:  # a retry: waits on the same task
        task.execute(context())
    assert again.value.trigger.koji_task_id == 42 and koji.submitted == [42]

    ti = FakeTI()
    out = task.execute_complete(context(ti=ti), {"status": "success", "task_id": 42, "result": {}})
    assert koji.finished == [42] and out["image"]["koji_task"] == 42
    assert ti.xcoms["announcement"]["image"]["sha256"] == out["image"]["sha256"]
    with pytest.raises(AirflowFailException, match=r"Koji image task 42 failed: Invalid arch .*submit a new one"):
        task.execute_complete(
            context(), {"status": "failed", "task_id": 42, "state": "FAILED", "message": "Invalid arch"}
        )
    with pytest.raises(KojiTransientError, match="waiting again"):
        task.execute_complete(context(), {"status": "timeout", "task_id": 42, "state": "OPEN"})

    ready = ComposeOutput(plugin.id, "gce", plugin.label, GCE_MANIFEST, False, (), image=None)
    plugin.prepare = lambda ctx, manifest: ready  # released already (or a complete candidate): no task at all
    monkeypatch.setattr(plugin, "announcement", lambda output, served: {"item": plugin.id})
    released = FakeTI()
    assert task.execute(context(ti=released))["changed"] is False and koji.submitted == [42]
    # every result counts for the released one — and "since" is pushed as "", never None (which is not stored,
    # so the tests task could not read it: a resumed push would hold the artifact back)
    assert released.xcoms["since"] == ""


def test_a_remote_ostree_compose_goes_through_the_ssh_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """config/fedora.yaml composes the Atomic Host on the compose host (``compose: remote``)."""
    from contextlib import ExitStack

    from relengotron.airflow.connections import Connections, TaskClients
    from relengotron.airflow.push import PushTask, RemoteCompose
    from relengotron.ostree.compose import RemoteBackend
    from relengotron.push import Push
    from relengotron.push_run import plugin_for

    config = load_release_config(REPO / "config" / "fedora.yaml")
    push = Push.from_conf(PARAMS, config)
    plugin = plugin_for(config, atomic_item())
    hooks: list[str] = []

    class SSHHook:
        remote_host, port, username = "compose.example.org", 22, "releng"

        def __init__(self, ssh_conn_id: str) -> None:
            hooks.append(ssh_conn_id)

        def get_conn(self) -> Any:
            raise AssertionError("nothing is run on the host to build the context")

    koji = FakeKoji()
    monkeypatch.setattr("airflow.providers.ssh.hooks.ssh.SSHHook", SSHHook)
    monkeypatch.setattr("relengotron.airflow.hooks.KojiHook.client", property(lambda self: koji))

    class Signer:  # the release's signer, as far as the compose context uses it: its public key
        key_id = "81b46521"

        def export_public_key(self, path: Path) -> Path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
            return path

    monkeypatch.setattr("relengotron.airflow.connections.release_signer", lambda *a: Signer())
    remote = RemoteCompose(host_workdir="/srv/compose", fetch_from="https://compose.example.org/work")
    with ExitStack() as stack:
        task = PushTask(config, push, TaskClients(Connections(compose_ssh="compose_host"), stack))
        with task.compose_context(plugin, remote) as ctx:
            assert isinstance(ctx.remote, RemoteBackend) and ctx.remote.runner.name == "releng@compose.example.org:22"
            assert (ctx.remote.host_workdir, ctx.remote.fetch_from) == (
                "/srv/compose",
                "https://compose.example.org/work",
            )
            # the release key, copied to the host, is what the host's yum repositories are checked against
            assert ctx.remote.key_url(ctx.rpm_keys[0]) == "file:///srv/compose/keys/81b46521.asc"
            assert [k.name for k in ctx.remote.keys] == ["81b46521.asc"] == [k.name for k in ctx.rpm_keys]
            assert ctx.image_tag == "f24-updates" and ctx.workdir.is_dir()
            workdir = ctx.workdir
        assert not workdir.exists()
    assert hooks == ["compose_host"] and koji.closed == 1 and not workdir.exists()


# --- website ----------------------------------------------------------------------------------------------


def test_website_is_written_from_what_is_released_and_synced(
    config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from operators.website import WebsiteOperator

    # the release's signer hands the website its public key (a stand-in keyring: the page only shows it)
    keyring = SimpleNamespace(fingerprint="A" * 32 + "0123ABCD", uid="F24 <k@example.test>", armored="K\n", binary=b"K")
    monkeypatch.setattr("relengotron.airflow.connections.release_signer", lambda *a: SimpleNamespace(keyring=keyring))
    staging, master = Path(config.mirror.staging), Path(config.mirror.master)
    put_image(staging, GCE)
    put_image(staging / ".relengotron/candidates", "linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz")
    first = WebsiteOperator(task_id="website").execute(context())
    key_files = ["website/24/RPM-GPG-KEY-fedora-24-primary", "website/24/fedora.gpg"]
    assert sorted(first["written"]) == sorted(
        ["website/24/images.json", "website/24/index.html", *key_files, "website/index.html"]
    )
    assert sorted(p.relative_to(master).as_posix() for p in master.rglob("*") if p.is_file()) == [
        "fullfiletimelist-fedora",  # every sync keeps the downstream mirrors' file lists
        "imagelist-fedora",
        *key_files,
        "website/24/images.json",
        "website/24/index.html",
        "website/index.html",
    ]
    assert "AAAA AAAA AAAA AAAA AAAA  AAAA AAAA AAAA 0123 ABCD" in (master / "website/24/index.html").read_text()
    assert "website/24/images.json" in (master / "fullfiletimelist-fedora").read_text()
    assert "Fedora-Cloud-Base-GCE-24" in (master / "website/24/index.html").read_text()
    assert "Fedora-Cloud-Base-24.x86_64" not in (master / "website/24/index.html").read_text()
    again = WebsiteOperator(task_id="website").execute(context())
    assert again["written"] == [] and not any(again["changes"].values())  # rerun: nothing written or synced
