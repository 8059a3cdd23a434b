"""The browser tests' own helpers stay fast on a busy machine."""

from __future__ import annotations

import struct

import pytest

from .browser import shot

pytestmark = pytest.mark.browser


def _png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_screenshots_of_a_very_long_page_keep_to_the_viewport(browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_content('<div style="height: 49000px">a report as long as the real one</div>')
    assert page.evaluate("document.documentElement.scrollHeight") >= 49000
    assert _png_size(shot(page, "suite-long-page")) == (390, 844)
