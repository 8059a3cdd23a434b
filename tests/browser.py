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
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            instance.close()


def shot(page, name: str) -> Path:
    """Keep a full-page screenshot under tests/artifacts/."""
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target
