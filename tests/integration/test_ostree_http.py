"""Clients pull the shared repository over HTTP with GPG verification of commits and summary — and refuse a
tampered summary or a repository signed by another key. The client is the real ostree CLI."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_ostree_support import REF, UPDATED_GLIBC, Payloads, compose_and_merge, make_signer, ostree

from relengotron.ostree import publish
from relengotron.ostree.compose import LocalBackend
from relengotron.ostree.repo import OSTreeRepo

pytestmark = pytest.mark.integration

NOW = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def published(built_world, tmp_path_factory) -> dict:
    """A shared repository with two signed releases of the ref (delta between them) and a tag on the first."""
    root = tmp_path_factory.mktemp("published")
    payloads = Payloads(built_world, root / "yum")
    signer = make_signer(root / "gnupg")
    other = make_signer(root / "other-gnupg", "Somebody Else")
    shared = OSTreeRepo(root / "shared")
    backend = LocalBackend(root / "work")
    _, first = compose_and_merge(backend, shared, payloads.request(), signer, now=NOW)
    publish.tag_head(shared, REF, signer=signer)
    _, second = compose_and_merge(backend, shared, payloads.request(glibc=UPDATED_GLIBC), signer, now=NOW)
    return {
        "shared": shared,
        "first": first.head,
        "second": second.head,
        "key_id": signer.key.fingerprint[-16:],
        "key": signer.export_public_key(root / "key.asc"),
        "other_key": other.export_public_key(root / "other.asc"),
    }


@pytest.fixture
def serve() -> Iterator:
    """serve(directory) → base URL of an HTTP server on 127.0.0.1 serving it; all stopped after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(directory: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _client(tmp_path: Path, url: str, key: Path) -> Path:
    client = tmp_path / "client"
    ostree("init", f"--repo={client}", "--mode=bare-user")  # static deltas need a bare repository
    ostree(
        "remote",
        "add",
        f"--repo={client}",
        "--set=gpg-verify=true",
        "--set=gpg-verify-summary=true",
        "fedora",
        url,
    )
    ostree("remote", "gpg-import", f"--repo={client}", "-k", key, "fedora")
    return client


def test_pull_with_gpg_verification_and_static_delta(tmp_path: Path, published: dict, serve) -> None:
    client = _client(tmp_path, serve(published["shared"].path), published["key"])
    ostree("pull", f"--repo={client}", "fedora", f"{REF}@{published['first']}")
    assert ostree("rev-parse", f"--repo={client}", f"fedora:{REF}").stdout.strip() == published["first"]
    ostree("pull", f"--repo={client}", "--require-static-deltas", "fedora", REF)  # fails without the delta
    assert ostree("rev-parse", f"--repo={client}", f"fedora:{REF}").stdout.strip() == published["second"]
    shown = ostree("show", f"--repo={client}", "--gpg-verify-remote=fedora", published["second"]).stdout
    assert "Good signature" in shown
    tag = f"tags/{REF}/24.20160614.0"
    ostree("pull", f"--repo={client}", "fedora", tag)
    assert ostree("rev-parse", f"--repo={client}", f"fedora:{tag}").stdout.strip() == published["first"]
    ostree("fsck", f"--repo={client}")


def test_a_tampered_summary_is_refused(tmp_path: Path, published: dict, serve) -> None:
    copy = tmp_path / "served"
    shutil.copytree(published["shared"].path, copy, symlinks=True)
    summary = bytearray((copy / "summary").read_bytes())
    index = summary.find(bytes.fromhex(published["second"])[:8])
    assert index >= 0
    summary[index] ^= 0x01  # point the ref at another commit
    (copy / "summary").write_bytes(bytes(summary))
    client = _client(tmp_path, serve(copy), published["key"])
    result = ostree("pull", f"--repo={client}", "fedora", REF, check=False)
    assert result.returncode != 0
    assert "Signature made" in result.stderr and published["key_id"] in result.stderr  # the summary's signature
    assert ostree("rev-parse", f"--repo={client}", f"fedora:{REF}", check=False).returncode != 0


def test_another_key_is_refused(tmp_path: Path, published: dict, serve) -> None:
    client = _client(tmp_path, serve(published["shared"].path), published["other_key"])
    result = ostree("pull", f"--repo={client}", "fedora", REF, check=False)
    assert result.returncode != 0
    assert f"using RSA key ID {published['key_id']}" in result.stderr  # signed by a key the client lacks
    assert ostree("rev-parse", f"--repo={client}", f"fedora:{REF}", check=False).returncode != 0
