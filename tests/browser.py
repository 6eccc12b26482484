"""Headless Chromium for the tests that look at pages as a person would (Playwright driving Debian's ``chromium``).

Chromium is found at ``$GANLAB_CHROMIUM``, else ``chromium`` on the PATH. Without it
the browser tests are skipped with the install command, unless
``GANLAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where they fail instead.
"""

from __future__ import annotations

import io
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import matplotlib.image
import numpy as np
import pytest

LAPTOP = {"width": 1280, "height": 800}


def chromium_path() -> str:
    path = os.environ.get("GANLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "no Chromium: install Debian's package (apt-get install chromium) or set GANLAB_CHROMIUM"
        if os.environ.get("GANLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class PageLog:
    """What went wrong while a page loaded: failed requests, HTTP errors, console errors."""

    failed: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield instance
        finally:
            instance.close()


def open_page(instance: Any, url: str, viewport: dict[str, int] = LAPTOP) -> tuple[Any, PageLog]:
    """A new page at ``url`` (load finished), with every failure it met recorded."""
    page = instance.new_page(viewport=viewport)
    log = PageLog()
    page.on("requestfailed", lambda request: log.failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: log.http_errors.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    page.on("console", lambda message: log.console_errors.append(message.text) if message.type == "error" else None)
    page.goto(url, wait_until="load")
    return page, log


def screenshot(page: Any, path: Path, full_page: bool = True) -> np.ndarray:
    """Save a PNG screenshot and return its pixels (height, width, channels) in [0, 1]."""
    data = page.screenshot(path=str(path), full_page=full_page)
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def horizontal_overflow(page: Any) -> dict[str, Any]:
    """Page and table widths: a reader on this viewport must not scroll sideways."""
    return page.evaluate("""() => ({
        page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
        tables: Array.from(document.querySelectorAll('table')).map(
            t => [t.querySelector('th') ? t.querySelector('th').textContent : '', t.scrollWidth, t.parentElement.clientWidth]),
    })""")


def images(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("""() => Array.from(document.images).map(
        i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth, shown: i.getBoundingClientRect().width,
               src: i.src.slice(0, 22)}))""")
