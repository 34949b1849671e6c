"""A headless browser for the tests: Debian's ``chromium`` driven through Debian's ``chromedriver`` with selenium
(scripts/install-system.sh installs both; selenium is pinned in constraints.txt). Selenium Manager is never
asked for a driver (it would download one): the driver and the browser are given by path.

Open a page (optionally with cookies — e.g. Airflow 3's UI login, whose JWT from ``POST /auth/token`` the UI keeps
in the ``_token`` cookie: :func:`airflow_token_cookie`), read what it rendered (:class:`Page`: its text, its DOM,
its links) and save a screenshot::

    with Browser() as browser:
        page = browser.open(url, cookies={"_token": jwt}, wait_text="Release engineering")
        browser.screenshot(tmp_path / "page.png")

Everything stays on this machine: chromedriver listens on loopback only (its default without
``--allowed-ips``, which would make it listen on every interface), Chromium's own
background traffic (updates, sync, metrics, safe browsing) is switched off and its host resolver answers only
127.0.0.1/localhost. :meth:`Browser.close` (the context's exit) quits the browser and then stops whatever is
left of chromedriver's process session (:func:`relengotron_sandbox.testing.stop`, by process id): no stray
chromium outlives a test.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from relengotron_sandbox.testing import free_port, log_tail, stop

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1400, 900)  # a laptop screen's browser window
# Chromium switches (chromium --help; https://peter.sh/experiments/chromium-command-line-switches/): headless,
# root without the setuid sandbox (the tests run as root here), no first-run UI, no background network traffic.
ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--password-store=basic",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
)


class BrowserError(RuntimeError):
    """The browser could not start, or a page did not load or show what was waited for (with the driver's log)."""


@dataclass(frozen=True)
class Link:
    href: str  # absolute, as the browser resolved it
    text: str  # what the user reads (innerText, stripped)


@dataclass(frozen=True)
class Page:
    """What the browser rendered: the URL it ended on, the title, the visible text (``innerText``: what a user
    reads, laid out in lines), the rendered DOM (after any script ran) and every ``<a href>``."""

    url: str
    title: str
    text: str
    html: str
    links: tuple[Link, ...]

    def link(self, text: str) -> Link:
        """The first link whose text is ``text``; KeyError naming it and the page otherwise."""
        for link in self.links:
            if link.text == text:
                return link
        raise KeyError(f"{self.url}: no link reading {text!r}")


class Browser:
    """One headless Chromium (a fresh profile in a temporary directory) and its chromedriver; a context manager.
    Not thread-safe. Each :meth:`open` navigates the same tab; :meth:`close` is idempotent."""

    def __init__(
        self,
        *,
        window: tuple[int, int] = WINDOW,
        chromium: str = CHROMIUM,
        chromedriver: str = CHROMEDRIVER,
        log: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        for tool in (chromium, chromedriver):
            if shutil.which(tool) is None:
                raise BrowserError(
                    f"{tool} is not installed (scripts/install-system.sh installs chromium, chromedriver)"
                )
        self.timeout = timeout
        self._driver: webdriver.Chrome | None = None
        self._closed = False
        self._profile = Path(tempfile.mkdtemp(prefix="relengotron-chromium-"))
        self.log = log or self._profile / "chromedriver.log"
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in (*ARGS, f"--window-size={window[0]},{window[1]}", f"--user-data-dir={self._profile / 'profile'}"):
            options.add_argument(arg)
        self._service = Service(
            executable_path=chromedriver,
            port=free_port(),
            log_output=str(self.log),
            popen_kw={"start_new_session": True},  # chromedriver and the browser: one session, stopped whole
        )
        try:
            self._driver = webdriver.Chrome(service=self._service, options=options)
        except WebDriverException as exc:
            tail = log_tail(self.log)
            self.close()
            raise BrowserError(f"chromium did not start: {exc.msg}\n{tail}") from exc
        self._driver.set_page_load_timeout(timeout)

    @property
    def driver(self) -> webdriver.Chrome:
        """The selenium driver, for what this class does not wrap (clicking, forms)."""
        if self._driver is None or self._closed:
            raise BrowserError("the browser is closed")
        return self._driver

    # --- the operations ----------------------------------------------------------------------------------

    def set_cookies(self, url: str, cookies: Mapping[str, str]) -> None:
        """Give the browser ``cookies`` for ``url``'s origin (before opening it: no page of it needs to be open;
        Chrome DevTools' ``Network.setCookie``). Idempotent: the same name is replaced."""
        for name, value in cookies.items():
            result = self.driver.execute_cdp_cmd(
                "Network.setCookie", {"name": name, "value": value, "url": url, "path": "/"}
            )
            if not result.get("success", True):
                raise BrowserError(f"{url}: cookie {name} was refused")

    def open(
        self,
        url: str,
        *,
        cookies: Mapping[str, str] | None = None,
        wait_css: str | None = None,
        wait_text: str | None = None,
    ) -> Page:
        """Load ``url`` (with ``cookies`` for its origin when given), wait until the element ``wait_css`` is
        present and/or ``wait_text`` is in the page's text (for pages a script renders, such as Airflow's UI),
        and return what it shows. :class:`BrowserError` names the URL when it does not load or never shows it."""
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            raise BrowserError(f"{url}: the test browser opens 127.0.0.1 only")
        if cookies:
            self.set_cookies(url, cookies)
        try:
            self.driver.get(url)
            wait = WebDriverWait(self.driver, self.timeout)
            if wait_css is not None:
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, wait_css))
            if wait_text is not None:
                wait.until(lambda d: wait_text in d.execute_script("return document.body.innerText"))
        except TimeoutException as exc:
            waited = " and ".join(f"{k} {v!r}" for k, v in (("element", wait_css), ("text", wait_text)) if v)
            shown = self._text()[:2000]
            raise BrowserError(
                f"{url}: {waited or 'the page'} not shown in {self.timeout:.0f} s; it shows:\n{shown}"
            ) from exc
        except WebDriverException as exc:
            raise BrowserError(f"{url}: {exc.msg}") from exc
        return self.page()

    def page(self) -> Page:
        """What the current tab shows now."""
        links = self.driver.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => [a.href, a.innerText])"
        )
        return Page(
            url=self.driver.current_url,
            title=self.driver.title,
            text=self._text(),
            html=self.driver.page_source,
            links=tuple(Link(str(href), str(text).strip()) for href, text in links),
        )

    def screenshot(self, path: str | Path, *, full_page: bool = True) -> Path:
        """Save a PNG of the current tab to ``path`` (its parent made; replaced whole): the whole page, as tall
        as its content, or only the window (``full_page`` False). Returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            size = self.driver.execute_script(
                "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            width = max(int(size[0]), self.driver.execute_script("return window.innerWidth"))
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": int(size[1]), "scale": 1}
        data = base64.b64decode(self.driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"])
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    # --- lifetime ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Quit the browser, stop what is left of its processes (chromedriver's session: chromium and its
        helpers), remove its profile (and the driver's log, unless ``log`` was given). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._driver is not None:
                with suppress(WebDriverException):
                    self._driver.quit()
        finally:
            process = getattr(self._service, "process", None)
            if process is not None:
                stop(process.pid)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _text(self) -> str:
        return str(self.driver.execute_script("return document.body ? document.body.innerText : ''"))


def airflow_token_cookie(base_url: str, username: str, password: str, *, timeout: float = 30.0) -> dict[str, str]:
    """Log in to an Airflow 3 api-server as its UI does: ``POST /auth/token`` with the user's credentials (the
    simple auth manager's), the JWT returned kept in the ``_token`` cookie the UI reads
    (airflow/api_fastapi/core_api/security.py). Pass the result as :meth:`Browser.open`'s ``cookies``."""
    response = requests.post(
        base_url.rstrip("/") + "/auth/token", json={"username": username, "password": password}, timeout=timeout
    )
    if response.status_code not in (200, 201):
        raise BrowserError(
            f"{base_url}: POST /auth/token as {username}: HTTP {response.status_code} {response.text[:200]}"
        )
    return {"_token": str(response.json()["access_token"])}
