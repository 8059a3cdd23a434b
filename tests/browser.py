"""A live server and Debian's chromium driven by Playwright, for the browser tests."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Generous for a loaded two-core machine, short enough that a stuck test fails in
# seconds rather than minutes (Playwright's default is 30 s for everything).
LAUNCH_TIMEOUT_MS = 60_000
NAVIGATION_TIMEOUT_MS = 30_000
ACTION_TIMEOUT_MS = 15_000
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's chromium; Playwright cannot download its own browser here."""
    return os.environ.get("DELPHI_CHROMIUM") or shutil.which("chromium")


class LiveServer:
    """The app served on a free local port from a thread."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def browser():
    """A headless chromium; missing chromium skips unless DELPHI_REQUIRE_BROWSER is set (CI)."""
    path = chromium_path()
    if path is None:
        if os.environ.get("DELPHI_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed; `apt-get install chromium` (CI does this)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs these")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS,
                                              timeout=LAUNCH_TIMEOUT_MS)
        try:
            yield BoundedBrowser(instance)
        finally:
            instance.close()


class BoundedBrowser:
    """The browser, whose every new page and context has the suite's timeouts.

    Playwright waits 30 s for each action and navigation by default; a test that
    hangs on a busy machine should fail with a clear message well before that adds up.
    """

    def __init__(self, browser) -> None:  # type: ignore[no-untyped-def]
        self._browser = browser

    def new_page(self, **kwargs):  # type: ignore[no-untyped-def]
        page = self._browser.new_page(**kwargs)
        _bound(page)
        return page

    def new_context(self, **kwargs):  # type: ignore[no-untyped-def]
        context = self._browser.new_context(**kwargs)
        _bound(context)
        return context

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._browser, name)


def _bound(target) -> None:  # type: ignore[no-untyped-def]
    target.set_default_timeout(ACTION_TIMEOUT_MS)
    target.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)


def shot(page, name: str, element: str | None = None) -> Path:
    """Keep a screenshot of what the viewport shows (or of one element) under tests/artifacts/.

    Never a full-page screenshot: the report is tens of thousands of pixels tall, and
    capturing it all took longer than Playwright's timeout on a busy two-core machine.

    A screenshot is for people to look at, not an assertion: chromium sometimes answers
    "Unable to capture screenshot" for a heavy page on a loaded machine (seen in CI on
    the results page of 103 statements). It is tried again once; if it still fails, the
    test goes on and a text file in its place says so.
    """
    from playwright.sync_api import Error as PlaywrightError

    target = ARTIFACTS / f"{name}.png"
    for attempt in (1, 2):
        try:
            if element:
                page.locator(element).first.screenshot(path=str(target),
                                                       timeout=ACTION_TIMEOUT_MS)
            else:
                page.screenshot(path=str(target), full_page=False, timeout=ACTION_TIMEOUT_MS)
            return target
        except PlaywrightError as error:
            if attempt == 2:
                target.with_suffix(".txt").write_text(f"no screenshot: {error}\n")
                return target
            page.wait_for_timeout(1000)
    return target
