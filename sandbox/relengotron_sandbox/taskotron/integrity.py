"""Integrity checks of composed artifacts: ``ostree fsck`` of a commit's repo, sha256 of an image.

An artifact that is announced but absent (no repo, no such commit, image 404 or missing file) FAILS its check:
the compose claimed something that is not there. The check cannot *run* (:class:`CheckError`) when the tool
is missing or times out, the image server answers with anything but the file or a 404, or the announcement
lacks what the check needs.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from relengotron_sandbox.taskotron.outcome import CheckError, CheckOutcome

OSTREE = "ostree"
TOOL_TIMEOUT = 300  # seconds; a hung tool is an error of the check, not of the artifact
_CHUNK = 1 << 20
_NOTE_LINES = 5


def _tail(text: str, lines: int = _NOTE_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def _ostree(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [OSTREE, *args, f"--repo={repo}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise CheckError(f"{OSTREE} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CheckError(f"ostree {args[0]} on {repo} did not finish in {TOOL_TIMEOUT} s") from None


def ostree_fsck(spec: dict[str, Any]) -> CheckOutcome:
    """``ostree fsck`` the repo holding ``spec["commit"]`` (or the commit ``spec["ref"]`` points to).

    fsck verifies every object of every commit in the repo; the commit must exist in it.
    """
    if not isinstance(spec, dict) or not spec.get("repo"):
        raise CheckError("the announcement has no ostree.repo")
    repo = Path(str(spec["repo"]))
    commit, ref = spec.get("commit"), spec.get("ref")
    if not commit and not ref:
        raise CheckError("the announcement names neither ostree.commit nor ostree.ref")
    if not (repo / "config").is_file() or not (repo / "objects").is_dir():
        return CheckOutcome("FAILED", f"{repo} is not an ostree repository")
    wanted = str(commit or ref)
    parsed = _ostree(repo, "rev-parse", wanted)
    if parsed.returncode != 0:
        return CheckOutcome("FAILED", f"{wanted} not found in {repo}: {_tail(parsed.stderr, 1)}")
    resolved = parsed.stdout.strip()
    shown = _ostree(repo, "show", resolved)  # rev-parse accepts any well-formed checksum; is it there?
    if shown.returncode != 0:
        return CheckOutcome("FAILED", f"commit {resolved} not found in {repo}: {_tail(shown.stderr, 1)}")
    fsck = _ostree(repo, "fsck")
    if fsck.returncode != 0:
        return CheckOutcome("FAILED", f"ostree fsck of {repo} (commit {resolved}) failed: {_tail(fsck.stderr)}")
    summary = _tail(fsck.stdout, 1) or "no errors found"
    return CheckOutcome("PASSED", f"commit {resolved}: {summary}")


def image_checksum(spec: dict[str, Any], *, timeout: float = 60.0) -> CheckOutcome:
    """Read the image at ``spec["url"]`` (http(s), file:// or a path) and compare its sha256."""
    if not isinstance(spec, dict) or not spec.get("url") or not spec.get("sha256"):
        raise CheckError("the announcement needs image.url and image.sha256")
    url, expected = str(spec["url"]), str(spec["sha256"]).strip().lower()
    digest = hashlib.sha256()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        try:
            with requests.get(url, stream=True, timeout=timeout) as answer:
                if answer.status_code == 404:
                    return CheckOutcome("FAILED", f"image not found: {url} (HTTP 404)")
                if answer.status_code != 200:
                    raise CheckError(f"GET {url} answered HTTP {answer.status_code}")
                for chunk in answer.iter_content(_CHUNK):
                    digest.update(chunk)
        except requests.RequestException as exc:
            raise CheckError(f"cannot download {url}: {exc}") from None
    elif parts.scheme in ("", "file"):
        path = Path(parts.path if parts.scheme == "file" else url)
        if not path.is_file():
            return CheckOutcome("FAILED", f"image not found: {path}")
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise CheckError(f"cannot read {path}: {exc}") from None
    else:
        raise CheckError(f"unsupported image URL scheme {parts.scheme!r} in {url}")
    actual = digest.hexdigest()
    if actual != expected:
        return CheckOutcome("FAILED", f"sha256 mismatch for {url}: expected {expected}, got {actual}")
    return CheckOutcome("PASSED", f"sha256 {actual} matches")
