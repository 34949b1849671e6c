"""The download website as a user meets it, in a headless Chromium (relengotron_sandbox.browser): the mirror
served over HTTP on 127.0.0.1, the top page opened and its release followed, every released image listed with
its verification commands, a held-back one nowhere, every link answering 200 — and the page's commands run
verbatim in a shell (``$MIRROR`` set to the served mirror, ``OSTREE_REPO`` to a scratch repository): the
downloads verify with gpgv and sha256sum, and the OSTree remote added as the page says pulls the ref
GPG-verified. No tests here.

The page's screenshot is saved as a test artifact in ``$RELENGOTRON_SCREENSHOTS`` (default: a directory under
the test's tmp dir) and its path printed; ``RELENGOTRON_SCREENSHOTS=docs/screenshots pytest …`` regenerates the
README's.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from relengotron.signing.verify import Keyring
from relengotron_sandbox.browser import Browser, Page

SCREENSHOTS_ENV = "RELENGOTRON_SCREENSHOTS"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(top: Path) -> Iterator[str]:
    """``top`` served over HTTP on 127.0.0.1 (a static file server, as the mirror is); its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(top)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def screenshot_dir(default: Path) -> Path:
    """Where screenshots go: ``$RELENGOTRON_SCREENSHOTS`` when set, else ``default``."""
    return Path(os.environ.get(SCREENSHOTS_ENV) or default)


def check_download_site(
    master: Path,
    release_name: str,
    released: Sequence[str],
    held_back: str,
    public_key: Path,
    work: Path,
    *,
    ostree_refs: Sequence[str] = (),
) -> Path:
    """Assert what a user sees and can do on ``release_name``'s download page on the mirror ``master``:
    ``released`` (image paths relative to the mirror top) each listed with its commands, ``held_back`` (a file
    name) nowhere, every link 200, the commands working, the release's key the one of ``public_key``, each of
    ``ostree_refs`` pullable as the page says. Returns the screenshot's path."""
    shots = screenshot_dir(work / "screenshots")
    work.mkdir(parents=True, exist_ok=True)
    with serve(master) as base, Browser() as browser:
        top = browser.open(f"{base}/website/index.html")
        page = browser.open(top.link(release_name).href, wait_css="#verify")
        shot = browser.screenshot(shots / f"download-site-{release_name.replace(' ', '-').lower()}.png")
        print(f"download site screenshot: {shot}")
        blocks = [e.text for e in browser.driver.find_elements("css selector", "pre")]
        _assert_lists(page, released, held_back)
        _assert_links_work(page)
        _run_commands(base, blocks, released, public_key, work, ostree_refs)
    return shot


def _assert_lists(page: Page, released: Sequence[str], held_back: str) -> None:
    assert page.title.endswith("downloads") and "Verify your download" in page.text
    for rel in released:
        name = Path(rel).name
        assert any(link.text == name and link.href.endswith(rel) for link in page.links), (name, page.links)
        assert f"gpgv --keyring ./fedora.gpg {name}-CHECKSUM" in page.text, name
        assert f"sha256sum --ignore-missing -c {name}-CHECKSUM" in page.text, name
    assert held_back not in page.text and held_back not in page.html
    assert not [link for link in page.links if held_back in link.href]


def _assert_links_work(page: Page) -> None:
    with requests.Session() as http:
        for link in page.links:
            response = http.head(link.href, timeout=30)  # the file is there: 200, nothing downloaded
            assert response.status_code == 200, (link, response.status_code)


def _run_commands(
    base: str, blocks: list[str], released: Sequence[str], public_key: Path, work: Path, ostree_refs: Sequence[str]
) -> None:
    """Each command block as the page shows it, in a shell, each image's in a directory of its own."""
    env = {**os.environ, "MIRROR": base, "OSTREE_REPO": str(work / "ostree"), "GNUPGHOME": str(work / "gnupg")}
    (work / "gnupg").mkdir(mode=0o700, exist_ok=True)
    subprocess.run(["ostree", "init", "--mode=bare-user", f"--repo={work / 'ostree'}"], env=env, check=True)
    for rel in released:
        name = Path(rel).name
        [block] = [b for b in blocks if f"{name}-CHECKSUM" in b and "sha256sum" in b]
        where = work / name
        where.mkdir(exist_ok=True)
        out = subprocess.run(["bash", "-ec", block], cwd=where, env=env, capture_output=True, text=True, check=False)
        assert out.returncode == 0, (name, block, out.stdout, out.stderr)
        assert "Good signature" in out.stderr and f"{name}: OK" in out.stdout, (out.stdout, out.stderr)
        # the key the page hands out is the release's signing key
        assert Keyring(public_key.read_text()).fingerprint in _fingerprints(where / "fedora.gpg")
    for ref in ostree_refs:
        [block] = [b for b in blocks if "ostree remote add" in b and ref in b]
        out = subprocess.run(["bash", "-ec", block], cwd=work, env=env, capture_output=True, text=True, check=False)
        assert out.returncode == 0, (ref, block, out.stdout, out.stderr)
        ostree = functools.partial(subprocess.run, env=env, capture_output=True, text=True, check=True)
        assert ostree(["ostree", "remote", "show-url", "fedora-atomic"]).stdout.strip().startswith(base)
        assert ostree(["ostree", "config", "get", 'remote "fedora-atomic".gpg-verify']).stdout.strip() == "true"
        assert ostree(["ostree", "rev-parse", f"fedora-atomic:{ref}"]).stdout.strip()


def _fingerprints(keyring: Path) -> str:
    """The fingerprints a binary keyring holds, as gpg lists them (read in a throwaway home)."""
    with tempfile.TemporaryDirectory(prefix="gpg-list-") as home:
        out = subprocess.run(
            ["gpg", "--homedir", home, "--with-colons", "--show-keys", str(keyring)],
            capture_output=True,
            text=True,
            check=True,
        )
    return out.stdout
