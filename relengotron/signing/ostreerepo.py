"""Where an OSTree repository keeps what gets signed, and whether its summary is current.

Signatures live beside the signed bytes: a commit's in ``objects/xx/yyy.commitmeta`` (over
``objects/xx/yyy.commit``), the summary's in ``summary.sig`` (over ``summary``). Both are read here as files
so that both signing backends, and the mirror verification, check them the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

from relengotron.signing import gvariant
from relengotron.tools.run import run

OSTREE = "ostree"
_CHECKSUM = re.compile(r"^[0-9a-f]{64}$")
_DELTA = re.compile(r"^([0-9a-f]{64}-)?[0-9a-f]{64}$")  # "FROM-TO", or "TO" for a delta from nothing


class OSTreeRepoError(RuntimeError):
    """A repository or commit that is not there; the message names it."""


def commit_path(repo: Path, commit: str) -> Path:
    """``repo/objects/xx/yyy.commit`` for a full commit checksum (ValueError for anything else)."""
    if not _CHECKSUM.match(commit):
        raise ValueError(f"{commit!r} is not a full 64-digit commit checksum")
    return Path(repo) / "objects" / commit[:2] / f"{commit[2:]}.commit"


def commitmeta_path(repo: Path, commit: str) -> Path:
    return commit_path(repo, commit).with_suffix(".commitmeta")


def resolve(repo: Path, rev: str) -> str:
    """The commit checksum a ref (or checksum) names in ``repo``."""
    if _CHECKSUM.match(rev):
        return rev
    out = run([OSTREE, "rev-parse", f"--repo={repo}", rev], item=f"{repo}: ref {rev}")
    return out.stdout.decode().strip()


def local_refs(repo: Path) -> dict[str, str]:
    """ref → commit for every branch in ``refs/heads`` (what ``summary -u`` lists)."""
    heads = Path(repo) / "refs" / "heads"
    out: dict[str, str] = {}
    if heads.is_dir():
        for path in sorted(heads.rglob("*")):
            if path.is_file():
                out[path.relative_to(heads).as_posix()] = path.read_text().strip()
    return out


def parse_summary_view(text: str) -> dict[str, str]:
    """ref → commit from ``ostree summary --view`` output (pure)."""
    refs: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("* "):
            current = line[2:].strip()
        elif current is not None and _CHECKSUM.match(line.strip()):
            refs[current] = line.strip()
            current = None
    return refs


def summary_refs(repo: Path) -> dict[str, str] | None:
    """ref → commit as the summary file lists them; None when the repository has no summary."""
    path = Path(repo) / "summary"
    return gvariant.summary_refs(path.read_bytes()) if path.is_file() else None


def local_deltas(repo: Path) -> frozenset[str]:
    """Names of the repository's static deltas (``ostree static-delta list``)."""
    out = run([OSTREE, "static-delta", "list", f"--repo={repo}"], item=f"{repo}: static deltas")
    return frozenset(line.strip() for line in out.stdout.decode().splitlines() if _DELTA.match(line.strip()))


def summary_is_current(repo: Path) -> bool:
    """True when the summary exists and lists exactly the repository's current refs, commits and deltas."""
    path = Path(repo) / "summary"
    if not path.is_file():
        return False
    try:
        data = path.read_bytes()
        current = gvariant.summary_refs(data) == local_refs(repo) and gvariant.summary_deltas(data) == local_deltas(
            repo
        )
    except gvariant.GVariantError:
        return False  # an unreadable summary is regenerated
    return current


def check_repo(repo: Path) -> None:
    if not (Path(repo) / "config").is_file() or not (Path(repo) / "objects").is_dir():
        raise OSTreeRepoError(f"{repo}: not an OSTree repository")
