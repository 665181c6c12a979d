"""Chromium helpers for the benchmark sections that drive the real app (a server started as `make run`
starts it, Debian's Chromium through Playwright): gallery slider→chart latency, Start→first live point."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from common import ROOT  # noqa: F401  (puts the repo on sys.path)

from tests.system.browser_helpers import launch_chromium, streamlit_server
from tests.system.test_browser import POINTS_JS, wait_for_app

STATUS_GONE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


@contextlib.contextmanager
def app_and_browser(env: dict[str, str] | None = None) -> Iterator[tuple[str, Any]]:
    from playwright.sync_api import sync_playwright

    with streamlit_server(env) as base, sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            yield base, browser
        finally:
            browser.close()


def new_page(browser: Any, context: Any = None) -> Any:
    context = context or browser.new_context(viewport={"width": 1300, "height": 900})
    return context.new_page()


def open_gallery(page: Any, base: str) -> Any:
    page.goto(f"{base}/gallery?act=sigmoid,swish")
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    wait_for_app(page)
    return page.locator('[data-testid="stSlider"]').filter(has_text="beta").get_by_role("slider")


# What the first chart draws (every trace's y values): it changes when the chart has been redrawn for a
# new parameter value.
CHART_PRINT = """() => { const p = document.querySelector('.js-plotly-plot');
    return p && p.data ? JSON.stringify(p.data.map(t => t.y)) : null; }"""


def slider_to_chart(page: Any, slider: Any, key: str = "ArrowRight") -> float:
    """Seconds from a key press on the slider until the chart shows the new curve."""
    before = page.evaluate(CHART_PRINT)
    slider.focus()
    t0 = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(f"(b) => ({CHART_PRINT})() !== b", arg=before, timeout=120_000)
    elapsed = time.perf_counter() - t0
    page.wait_for_function(STATUS_GONE, timeout=120_000)
    return elapsed


def set_field(page: Any, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_for_app(page)


def open_lab(page: Any, base: str, **setup: str) -> None:
    """The training lab with a setup given as link keys (data=, hidden=, epochs=, seed=, batch=, ...)."""
    query = "&".join(f"{k}={v}" for k, v in setup.items())
    page.goto(f"{base}/training-lab?{query}")
    page.get_by_role("button", name="Start training").wait_for(timeout=120_000)
    wait_for_app(page)


def start_and_wait_first_point(page: Any) -> float:
    """Press Start; seconds until the new job's loss chart shows its first point."""
    t0 = time.perf_counter()
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function(f"() => ({POINTS_JS})() > 0", timeout=120_000)
    return time.perf_counter() - t0


def points(page: Any) -> int:
    return page.evaluate(POINTS_JS)
