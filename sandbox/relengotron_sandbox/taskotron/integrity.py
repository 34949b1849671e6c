"""Fetching an announced candidate over HTTP, as a test system does, and its integrity checks.

Test systems reach candidates by URL (the announcement's ``image.url``, ``ostree.url``), never by a path on the
pipeline's filesystem:

- an image is downloaded into scratch space (:func:`fetch_image`), and ``compose.image.checksum`` compares its
  sha256 with the announced one (:func:`image_checksum`);
- an OSTree commit is pulled from the repository URL into a scratch repository (:func:`pull_commit`): ``ostree
  pull`` verifies every object it fetches against the commit's checksum, so the commit pulled IS the announced
  one; ``compose.ostree.fsck`` is ``ostree fsck`` of that scratch repository (:func:`ostree_fsck`). The commit's
  GPG signature is not verified: a candidate is signed only once its tests passed (the promotion), so what is
  verified is content-addressing from the announced checksum — the message is the trust anchor, as Taskotron's
  fedmsg (signed by the publisher) was.

An artifact announced but absent (HTTP 404 for the image or for the repository's ``config``, a commit the pull
cannot find) FAILS: the compose claimed something that is not there. The check cannot *run* (:class:`CheckError`,
nothing posted) when the server is unreachable or answers anything but the file or a 404, a tool is missing or
hangs, or the announcement lacks what the check needs or names a path instead of a URL.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from relengotron.ostree.repo import is_checksum
from relengotron_sandbox.taskotron.outcome import CheckError, CheckOutcome

OSTREE = "ostree"
REMOTE = "candidate"  # the scratch repository's name for the announced repository
TOOL_TIMEOUT = 300  # seconds; a hung tool is an error of the check, not of the artifact
_CHUNK = 1 << 20
_NOTE_LINES = 5


def tail(text: str, lines: int = _NOTE_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def http_url(spec: dict[str, Any], key: str, what: str) -> str:
    """``spec[key]`` when it is an http(s) URL; CheckError otherwise (test systems never read workers' paths)."""
    url = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(url, str) or not url:
        raise CheckError(f"the announcement has no {what}")
    if urlsplit(url).scheme not in ("http", "https"):
        raise CheckError(f"the announcement's {what} {url!r} is not an http(s) URL (candidates are fetched by URL)")
    return url


def download(url: str, dest: Path, *, timeout: float = 60.0) -> bool:
    """GET ``url`` into ``dest``: True when downloaded, False on HTTP 404; CheckError when it cannot be fetched."""
    try:
        with requests.get(url, stream=True, timeout=timeout) as answer:
            if answer.status_code == 404:
                return False
            if answer.status_code != 200:
                raise CheckError(f"GET {url} answered HTTP {answer.status_code}")
            with dest.open("wb") as handle:
                for chunk in answer.iter_content(_CHUNK):
                    handle.write(chunk)
    except requests.RequestException as exc:
        raise CheckError(f"cannot download {url}: {exc}") from None
    return True


@dataclass(frozen=True)
class FetchedImage:
    url: str
    path: Path | None  # the downloaded file; None: the server answered 404
    sha256: str | None


def fetch_image(spec: dict[str, Any], scratch: Path, *, timeout: float = 60.0) -> FetchedImage:
    """Download the image ``spec["url"]`` into ``scratch`` (CheckError when it cannot be fetched)."""
    url = http_url(spec, "url", "image.url")
    dest = scratch / (Path(urlsplit(url).path).name or "image")
    if not download(url, dest, timeout=timeout):
        return FetchedImage(url, None, None)
    digest = hashlib.sha256()
    with dest.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return FetchedImage(url, dest, digest.hexdigest())


def image_checksum(fetched: FetchedImage, spec: dict[str, Any]) -> CheckOutcome:
    """``compose.image.checksum``: the downloaded image's sha256 is the announced ``spec["sha256"]``."""
    expected = str(spec.get("sha256") or "").strip().lower()
    if not expected:
        raise CheckError("the announcement has no image.sha256")
    if fetched.path is None:
        return CheckOutcome("FAILED", f"image not found: {fetched.url} (HTTP 404)")
    if fetched.sha256 != expected:
        return CheckOutcome("FAILED", f"sha256 mismatch for {fetched.url}: expected {expected}, got {fetched.sha256}")
    return CheckOutcome("PASSED", f"sha256 {fetched.sha256} of {fetched.url} matches")


def ostree(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``ostree <args[0]> --repo=<repo> <args[1:]>``; CheckError when it is missing or hangs."""
    try:
        return subprocess.run(
            [OSTREE, args[0], f"--repo={repo}", *args[1:]],
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


@dataclass(frozen=True)
class PulledCommit:
    url: str
    commit: str
    repo: Path | None  # the scratch repository holding the commit; None when it could not be pulled
    note: str  # why it could not be pulled, or what was verified


def pull_commit(spec: dict[str, Any], scratch: Path) -> PulledCommit:
    """Pull the announced commit from ``spec["url"]`` into a new scratch repository under ``scratch``."""
    url = http_url(spec, "url", "ostree.url").rstrip("/")
    commit = spec.get("commit")
    if not isinstance(commit, str) or not is_checksum(commit):
        raise CheckError(f"the announcement's ostree.commit {commit!r} is not a commit checksum")
    probe = scratch / "remote-config"
    if not download(f"{url}/config", probe):
        return PulledCommit(url, commit, None, f"no OSTree repository at {url} (its config: HTTP 404)")
    repo = scratch / "repo"
    for args in (("init", "--mode=archive"), ("remote", "add", "--no-gpg-verify", REMOTE, url)):
        step = ostree(repo, *args)
        if step.returncode != 0:
            raise CheckError(f"ostree {args[0]} of the scratch repository failed: {tail(step.stderr)}")
    pulled = ostree(repo, "pull", REMOTE, commit)
    if pulled.returncode != 0:
        return PulledCommit(
            url, commit, None, f"ostree pull of commit {commit} from {url} failed: {tail(pulled.stderr)}"
        )
    shown = ostree(repo, "show", commit)
    if shown.returncode != 0:
        return PulledCommit(url, commit, None, f"commit {commit} is not in what was pulled from {url}")
    note = f"commit {commit} pulled from {url}, every object verified against its checksum (GPG: not yet signed)"
    return PulledCommit(url, commit, repo, note)


def ostree_fsck(pulled: PulledCommit) -> CheckOutcome:
    """``compose.ostree.fsck``: ``ostree fsck`` of the scratch repository the commit was pulled into."""
    if pulled.repo is None:
        return CheckOutcome("FAILED", pulled.note)
    fsck = ostree(pulled.repo, "fsck")
    if fsck.returncode != 0:
        return CheckOutcome("FAILED", f"ostree fsck of commit {pulled.commit} from {pulled.url}: {tail(fsck.stderr)}")
    return CheckOutcome("PASSED", f"{pulled.note}; ostree fsck: {tail(fsck.stdout, 1) or 'no errors found'}")
