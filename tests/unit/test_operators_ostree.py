"""The ostree_maintenance DAG's operators at the repository seam: an in-memory stand-in for the shared repository
and a stand-in signer per release key, driven through the real retention, prune and upkeep code. Release refs
are found by the configured templates, old untagged commits go and heads and tagged ones stay, each head is
signed by its own release's key, the summary by the newest maintained release's key; a preview writes nothing;
a second run changes nothing; a missing ref fails at once naming it."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from operators.ostree import OSTreeFinishRefOperator, OSTreePruneOperator, OSTreeRefsOperator, OSTreeSummaryOperator

from relengotron import ostree_run
from relengotron.airflow import connections as seam
from relengotron.artifacts import load_release_config
from relengotron.config import ReleaseConfig
from relengotron.ostree.maintenance import release_refs, summary_release
from relengotron.ostree.repo import LogEntry
from relengotron.ostree.retention import DAY

REPO = Path(__file__).resolve().parents[2]
F24 = "fedora/24/x86_64/atomic-host"
F24_TESTING = "fedora/24/x86_64/testing/atomic-host"
F25 = "fedora/25/aarch64/atomic-host"
RAWHIDE = "fedora/rawhide/x86_64/atomic-host"
STRAY = "scratch/experiment"
TAG = f"tags/{F24}/24.1"


class FakeRepo:
    """The shared repository's commits (parent, timestamp), refs, static deltas, signatures and summary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.commits: dict[str, tuple[str | None, int]] = {}
        self.heads: dict[str, str] = {}
        self.deltas: set[str] = set()
        self.signatures: dict[str, set[str]] = {}
        self.summary_of: tuple[dict[str, str], frozenset[str]] | None = None
        self.summary_key: str | None = None
        self.summary_writes = 0

    def add(self, ref: str, ages: list[int], now: int) -> dict[int, str]:
        made = {}
        for age in ages:
            commit = f"{len(self.commits):064x}"
            self.commits[commit] = (self.heads.get(ref), now - age * DAY)
            self.heads[ref] = made[age] = commit
        return made

    def state(self) -> Any:
        return copy.deepcopy(
            (self.commits, self.heads, self.deltas, self.signatures, self.summary_of, self.summary_key)
        )

    # --- what the library reads and writes ---
    def exists(self) -> bool:
        return True

    @contextmanager
    def locked(self) -> Iterator[None]:
        yield

    def refs(self) -> dict[str, str]:
        return dict(sorted(self.heads.items()))

    def rev_parse(self, ref: str) -> str | None:
        return self.heads.get(ref)

    def has_commit(self, commit: str) -> bool:
        return commit in self.commits

    def log(self, rev: str) -> list[LogEntry]:
        out, commit = [], self.heads.get(rev, rev)
        while commit in self.commits:
            parent, stamp = self.commits[commit]
            out.append(LogEntry(commit, parent, stamp))
            commit = parent
        return out

    def show(self, rev: str) -> Any:
        commit = self.heads.get(rev, rev)
        return SimpleNamespace(checksum=commit, parent=self.commits[commit][0])

    def static_deltas(self) -> frozenset[str]:
        return frozenset(self.deltas)

    def generate_static_delta(self, source: str, target: str) -> bool:
        name = f"{source}-{target}"
        if name in self.deltas:
            return False
        self.deltas.add(name)
        return True

    def delete_static_delta(self, name: str) -> None:
        self.deltas.discard(name)

    def delete_commit(self, commit: str) -> int:
        if commit not in self.commits:
            return 0
        assert commit not in self.heads.values(), "ostree refuses to delete a commit a ref points at"
        del self.commits[commit]
        return 1 + self.prune_unreachable()

    def prune_unreachable(self) -> int:
        reachable = {entry.checksum for ref in self.heads for entry in self.log(ref)}
        gone = set(self.commits) - reachable
        for commit in gone:
            del self.commits[commit]
        return len(gone)

    def summary_current(self) -> bool:
        return self.summary_of == (self.refs(), self.static_deltas())

    def update_summary(self, signer: Any) -> bool:
        key = signer.key_id if signer is not None else None
        if self.summary_current() and (key is None or self.summary_key == key):
            return False
        self.summary_of, self.summary_key = (self.refs(), self.static_deltas()), key
        self.summary_writes += 1
        return True


@dataclasses.dataclass
class FakeSigner:
    repo: FakeRepo
    key_id: str

    def check(self) -> None:
        pass

    def commit_signed(self, path: Path, commit: str) -> bool:
        return self.key_id in self.repo.signatures.get(commit, set())

    def sign_ostree_commit(self, path: Path, commit: str) -> Any:
        signed = self.commit_signed(path, commit)
        self.repo.signatures.setdefault(commit, set()).add(self.key_id)
        return SimpleNamespace(action="already-signed" if signed else "signed")

    def summary_signed(self, path: Path) -> bool:
        return self.repo.summary_current() and self.repo.summary_key == self.key_id


@dataclasses.dataclass
class Setup:
    config: ReleaseConfig
    repo: FakeRepo  # the released repository
    compose: FakeRepo  # the shared compose repository
    c: dict[str, dict[int, str]]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    """Fedora's configuration (retention: 60 days, last 5; a key per release) and a repository with history."""
    config = load_release_config(REPO / "config" / "fedora.yaml")
    repo = FakeRepo(tmp_path / "repo")
    now = int(time.time())
    c = {
        F24: repo.add(F24, [200, 150, 120, 100, 90, 80, 70, 65], now),  # last 5: 100..65; 120 tagged
        F24_TESTING: repo.add(F24_TESTING, [10, 5, 1], now),
        F25: repo.add(F25, [59, 55, 50, 40, 30, 20, 10], now),  # the last 5, and younger than 60 days
        RAWHIDE: repo.add(RAWHIDE, [3, 2, 1], now),
        STRAY: repo.add(STRAY, [500, 400, 300, 200, 100, 90], now),
    }
    repo.heads[TAG] = c[F24][120]
    repo.deltas.add(f"{c[F24][200]}-{c[F24][150]}")  # stale once they are pruned
    monkeypatch.setattr("relengotron.airflow.hooks.release_config", lambda: config)
    compose = FakeRepo(tmp_path / "compose")
    c["compose"] = compose.add(F24, [300, 200, 100, 90, 80, 70, 1], now)  # candidates: 300, 200 age out

    @contextmanager
    def released_repo(staging: Any, *, write: bool) -> Iterator[FakeRepo]:
        yield repo

    monkeypatch.setattr(ostree_run, "released_repo", released_repo)
    monkeypatch.setattr(ostree_run, "compose_repo", lambda cfg: compose)

    def release_signer(cfg: ReleaseConfig, release_id: str, connections: Any = None) -> FakeSigner | None:
        key = cfg.release(release_id).signing_key
        return FakeSigner(repo, key) if key else None

    monkeypatch.setattr(seam, "release_signer", release_signer)
    return Setup(config, repo, compose, c)


def run_all(preview: bool) -> dict[str, Any]:
    """Every task of the DAG in order, as the scheduler runs them; their results."""
    refs = OSTreeRefsOperator(task_id="refs").execute({})
    prune = OSTreePruneOperator(task_id="prune", preview=preview).execute({})
    finished = [OSTreeFinishRefOperator(task_id="finish_ref", preview=preview, **item).execute({}) for item in refs]
    summary = OSTreeSummaryOperator(task_id="summary", preview=preview).execute({})
    return {"refs": refs, "prune": prune, "finish": finished, "summary": summary}


def test_release_refs_follow_the_configured_templates() -> None:
    config = load_release_config(REPO / "config" / "fedora.yaml")
    refs = [F24, F24_TESTING, F25, RAWHIDE, STRAY, TAG, "fedora/26/x86_64/atomic-host", "fedora/24/x86_64/other"]
    assert release_refs(config, refs) == [
        {"release": "f24", "ref": F24},
        {"release": "f24", "ref": F24_TESTING},
        {"release": "f25", "ref": F25},
        {"release": "rawhide", "ref": RAWHIDE},
    ]


def test_the_summary_key_is_the_newest_maintained_release() -> None:
    config = load_release_config(REPO / "config" / "fedora.yaml")
    assert summary_release(config).id == "f25"  # type: ignore[union-attr]

    def with_states(**states: str) -> ReleaseConfig:
        releases = {r: dataclasses.replace(rel, state=states.get(r, rel.state)) for r, rel in config.releases.items()}
        return dataclasses.replace(config, releases=releases)

    assert summary_release(with_states(f25="eol")).id == "f24"  # type: ignore[union-attr]
    assert summary_release(with_states(f24="eol", f25="eol")).id == "rawhide"  # type: ignore[union-attr]
    keyless = {r: dataclasses.replace(rel, signing_key=None) for r, rel in config.releases.items()}
    assert summary_release(dataclasses.replace(config, releases=keyless)) is None


def test_maintenance_prunes_signs_each_head_with_its_key_and_then_changes_nothing(setup: Setup) -> None:
    repo, c = setup.repo, setup.c
    before, compose_before = repo.state(), setup.compose.state()
    preview = run_all(preview=True)
    assert repo.state() == before and setup.compose.state() == compose_before  # a dry run writes nothing
    assert set(preview["prune"]["deleted"]) == {c[F24][200], c[F24][150], c[STRAY][500]}
    assert set(preview["prune"]["compose"]["deleted"]) == {c["compose"][300], c["compose"][200]}
    assert preview["summary"] == {"rewritten": True, "dry_run": True}

    done = run_all(preview=False)
    assert [item["ref"] for item in done["refs"]] == [F24, F24_TESTING, F25, RAWHIDE]
    assert set(done["prune"]["deleted"]) == {c[F24][200], c[F24][150], c[STRAY][500]}
    # the compose repository: its old candidates pruned by the same retention, nothing signed there
    assert set(c["compose"].values()) - set(setup.compose.commits) == {c["compose"][300], c["compose"][200]}
    assert setup.compose.signatures == {} and setup.compose.summary_key is None
    assert done["prune"]["deltas_deleted"] == [f"{c[F24][200]}-{c[F24][150]}"]
    assert set(c[F24].values()) - set(repo.commits) == {c[F24][200], c[F24][150]}
    assert repo.heads[TAG] == c[F24][120] and c[F24][120] in repo.commits  # tagged: kept
    assert set(c[F25].values()) <= set(repo.commits)  # last 5 and the young ones
    assert repo.heads[STRAY] == c[STRAY][90] and c[STRAY][500] not in repo.commits
    keys = {rel: setup.config.release(rel).signing_key for rel in ("f24", "f25", "rawhide")}
    for ref, release, head, parent in (
        (F24, "f24", 65, 70),
        (F24_TESTING, "f24", 1, 5),
        (F25, "f25", 10, 20),
        (RAWHIDE, "rawhide", 1, 2),
    ):
        assert repo.signatures[c[ref][head]] == {keys[release]}, ref
        assert f"{c[ref][parent]}-{c[ref][head]}" in repo.deltas, ref
    assert c[STRAY][90] not in repo.signatures  # no release claims it: pruned, never signed
    assert all(result["steps"] == ["sign", "static-delta"] for result in done["finish"])
    assert repo.summary_current() and repo.summary_key == keys["f25"]
    assert done["summary"] == {"rewritten": True, "dry_run": False}

    after, writes = repo.state(), repo.summary_writes
    again = run_all(preview=False)
    assert repo.state() == after and repo.summary_writes == writes
    assert again["prune"]["deleted"] == [] and again["prune"]["steps"] == []
    assert again["prune"]["compose"]["deleted"] == []
    assert all(result["steps"] == [] for result in again["finish"]) and again["summary"]["rewritten"] is False


def test_a_missing_ref_fails_at_once_naming_it_and_no_repository_skips(setup: Setup, monkeypatch: Any) -> None:
    task = OSTreeFinishRefOperator(task_id="finish_ref", release="f24", ref="fedora/24/x86_64/gone")
    with pytest.raises(AirflowFailException, match="no ref fedora/24/x86_64/gone"):
        task.execute({})
    monkeypatch.setattr(setup.repo, "exists", lambda: False)
    with pytest.raises(AirflowSkipException, match="no released repository yet"):
        OSTreeRefsOperator(task_id="refs").execute({})
