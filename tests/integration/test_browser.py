"""The tests' headless browser (relengotron_sandbox.browser) against a page served on 127.0.0.1: the rendered
text (after the page's script ran) and links, a cookie given before the page is opened reaches the server (how
the dashboard's test logs in to Airflow with the ``_token`` cookie), the screenshot is a PNG as ``file`` reads it,
a page that never shows what is waited for fails naming it — and no chromium process outlives the browser."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from relengotron_sandbox.browser import Browser, BrowserError
from relengotron_sandbox.testing import cmdline, session_processes

pytestmark = pytest.mark.integration

PAGE = """<!DOCTYPE html><html><head><title>T</title></head><body><h1>Hello</h1>
<p id="cookie">{cookie}</p><a href="/next?x=1">next page</a><div id="late"></div>
<script>setTimeout(() => document.getElementById('late').textContent = 'rendered by script', 200)</script>
</body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.format(cookie=self.headers.get("Cookie", "no cookie")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_page_is_read_with_its_cookie_and_screenshot_then_nothing_is_left(site: str, tmp_path: Path) -> None:
    with Browser() as browser:
        session = browser.driver.service.process.pid
        page = browser.open(f"{site}/", cookies={"_token": "jwt-value"}, wait_text="rendered by script")
        assert "Hello" in page.text and "rendered by script" in page.text and page.title == "T"
        assert "_token=jwt-value" in page.text  # the server got the cookie
        assert page.link("next page").href == f"{site}/next?x=1"
        shot = browser.screenshot(tmp_path / "shots" / "page.png")
        kind = subprocess.run(["file", "-b", str(shot)], capture_output=True, text=True, check=True).stdout
        assert kind.startswith("PNG image data, 1400 x"), kind
        assert any("chromium" in (cmdline(p) or "") for p in session_processes(session))

        with pytest.raises(BrowserError, match=r"text 'never there' not shown"):
            browser.timeout = 1
            browser.open(f"{site}/", wait_text="never there")
        with pytest.raises(BrowserError, match=r"127\.0\.0\.1 only"):
            browser.open("http://example.org/")
    assert session_processes(session) == []  # chromedriver, chromium and its helpers: all gone
