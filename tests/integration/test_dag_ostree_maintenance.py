"""The ``ostree_maintenance`` DAG end to end with dag.test() on the sandbox's released repository (the staging
tree's; real ostree, the world's signing key) and its compose repository: a dry run writes nothing, here or on
the mirror; the real run prunes the old untagged commits (in both repositories), keeps the heads, the recent
ones and the tagged one, signs every release head, makes the deltas to the heads, drops the stale delta, signs
a current summary and carries it all to the master mirror; a second run, and each task of the finished run
again, changes nothing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from relengotron.artifacts import load_release_config, staging_ostree_repo
from relengotron.config import ReleaseConfig
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.retention import DAY
from relengotron.signing import LocalGpgSigner

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
F24 = "fedora/24/x86_64/atomic-host"
F23 = "fedora/23/x86_64/updates/atomic-host"
RAWHIDE = "fedora/rawhide/x86_64/atomic-host"
STRAY = "scratch/x86_64/experiment"  # no release's ref: pruned by retention, never finished
TAG = f"tags/{F24}/24.1"


@dataclass
class Repo:
    config: ReleaseConfig
    repo: OSTreeRepo  # the released repository
    compose: OSTreeRepo  # the shared compose repository
    mirror: OSTreeRepo  # the released repository on the master mirror
    signer: LocalGpgSigner
    commits: dict[str, dict[int, str]]  # ref → age in days → commit
    candidates: dict[int, str]  # the compose repository's F24 history: age → commit


def history(repo: OSTreeRepo, ref: str, ages: list[int], trees: Path) -> dict[int, str]:
    """Commits of ``ref`` made ``ages`` days ago, oldest first: age → commit."""
    now = int(time.time())
    tree = trees / ref.replace("/", "_")
    tree.mkdir(parents=True)
    made = {}
    for age in ages:
        (tree / f"file-{age}").write_text(f"{ref}, {age} days old\n")
        made[age] = repo.commit(trees=[f"dir={tree}"], subject=f"{age}", branch=ref, timestamp=now - age * DAY)
    return made


@pytest.fixture
def shared(airflow_connections: dict[str, Any], airflow_db: Path, tmp_path: Path) -> Iterator[Repo]:
    """The sandbox's released repository with histories of several ages (retention: 30 days, last 3), and its
    compose repository with old candidates."""
    config = load_release_config(airflow_connections["releng"]["config"])
    assert (config.ostree.retention.keep_days, config.ostree.retention.keep_last) == (30, 3)
    signing = airflow_connections["signing"]
    signer = LocalGpgSigner(signing["gnupghome"], signing["key_id"])
    repo = staging_ostree_repo(config.mirror).init("archive")
    ages = {F24: [120, 100, 90, 80, 45, 40], F23: [200, 150, 100, 1], RAWHIDE: [2, 1], STRAY: [300, 200, 100, 50]}
    commits = {ref: history(repo, ref, found, tmp_path / "trees") for ref, found in ages.items()}
    repo.create_tag(F24, "24.1", commits[F24][100])
    repo.generate_static_delta(commits[F24][120], commits[F24][100])  # stale once 120 is pruned
    repo.update_summary(None)
    compose = OSTreeRepo(config.ostree.repo).init("archive")
    candidates = history(compose, F24, [100, 90, 80, 70, 2], tmp_path / "candidates")
    mirror = OSTreeRepo(Path(config.mirror.master) / config.mirror.ostree)
    yield Repo(config, repo, compose, mirror, signer, commits, candidates)


def state(repo: OSTreeRepo) -> dict[str, Any]:
    """What maintenance may change: refs, objects, deltas, the summary and its signature, bytes and all."""
    files = {}
    for name in ("summary", "summary.sig"):
        path = repo.path / name
        files[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    metas = sorted(p.name for p in (repo.path / "objects").rglob("*.commitmeta"))
    return {
        "refs": repo.refs(),
        "objects": repo.object_count(),
        "deltas": repo.static_deltas(),
        "commitmeta": metas,
        **files,
    }


def run(conf: dict[str, Any]) -> tuple[Any, dict[str, list[Any]]]:
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags"), safe_mode=False).get_dag("ostree_maintenance")
    dag_run = dag.test(run_conf=conf)
    tis: dict[str, list[Any]] = {}
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        tis.setdefault(ti.task_id, []).append(ti)
    return dag_run, tis


def states(tis: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {task: [str(ti.state) for ti in found] for task, found in tis.items()}


def test_maintenance_prunes_finishes_and_signs_then_changes_nothing(shared: Repo) -> None:
    import airflow  # noqa: F401 — puts the plugins folder on sys.path
    from operators.ostree import OSTreeFinishRefOperator, OSTreePruneOperator, OSTreeSummaryOperator, OSTreeSyncOperator

    repo, signer, c = shared.repo, shared.signer, shared.commits
    before, compose_before = state(repo), state(shared.compose)

    dry, dry_tis = run({"dry_run": True})
    assert str(dry.state) == "success", states(dry_tis)
    assert state(repo) == before and state(shared.compose) == compose_before
    assert not shared.mirror.path.exists()  # nothing synced

    done, tis = run({})
    assert str(done.state) == "success", states(tis)
    assert states(tis) == {
        "refs": ["success"],
        "prune": ["success"],
        "finish_ref": ["success"] * 3,
        "summary": ["success"],
        "sync": ["success"],
    }
    assert [ti.rendered_map_index for ti in tis["finish_ref"]] == [F23, F24, RAWHIDE]

    # pruned: old untagged commits past the last three; kept: heads, the last three, recent, the tagged one
    gone = [c[F24][120], c[F24][90], c[F23][200], c[STRAY][300]]
    kept = [*c[F24].values(), *c[F23].values(), *c[RAWHIDE].values(), *c[STRAY].values()]
    kept = [commit for commit in kept if commit not in gone]
    assert [commit for commit in gone if repo.has_commit(commit)] == []
    assert [commit for commit in kept if not repo.has_commit(commit)] == []
    assert repo.refs()[TAG] == c[F24][100]
    assert repo.refs()[F24] == c[F24][40] and repo.refs()[STRAY] == c[STRAY][50]
    repo.fsck()

    # every release head signed, with its delta; the stray ref left alone; the stale delta gone
    for ref, head, parent in ((F24, 40, 45), (F23, 1, 100), (RAWHIDE, 1, 2)):
        assert signer.commit_signed(repo.path, c[ref][head]), ref
        assert f"{c[ref][parent]}-{c[ref][head]}" in repo.static_deltas(), ref
    assert not signer.commit_signed(repo.path, c[STRAY][50])
    assert f"{c[F24][120]}-{c[F24][100]}" not in repo.static_deltas()
    assert repo.summary_current() and signer.summary_signed(repo.path)
    view = repo.summary()
    assert view is not None and view.refs == repo.refs() and view.deltas == repo.static_deltas()

    # the compose repository pruned by the same retention (its head and last three kept)
    cand = shared.candidates
    assert [age for age, commit in cand.items() if shared.compose.has_commit(commit)] == [80, 70, 2]

    # the master mirror: what clients pull is the maintained repository, signed summary and all
    assert shared.mirror.refs() == repo.refs() and shared.mirror.static_deltas() == repo.static_deltas()
    assert (shared.mirror.path / "summary").read_bytes() == (repo.path / "summary").read_bytes()
    assert signer.summary_signed(shared.mirror.path)
    assert [commit for commit in gone if shared.mirror.has_commit(commit)] == []

    # a second run changes nothing
    after, mirror_after = state(repo), state(shared.mirror)
    again, again_tis = run({})
    assert str(again.state) == "success", states(again_tis)
    assert state(repo) == after and state(shared.mirror) == mirror_after

    # each task of the finished run, run again: nothing to do
    assert OSTreePruneOperator(task_id="rerun_prune").execute({})["deleted"] == []
    for ref, release in ((F23, "f23"), (F24, "f24"), (RAWHIDE, "rawhide")):
        assert OSTreeFinishRefOperator(task_id="rerun", release=release, ref=ref).execute({})["steps"] == []
    assert OSTreeSummaryOperator(task_id="rerun_summary").execute({})["rewritten"] is False
    assert not any(OSTreeSyncOperator(task_id="rerun_sync").execute({}).values())
    assert state(repo) == after and state(shared.mirror) == mirror_after
