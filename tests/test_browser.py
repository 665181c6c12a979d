"""The pages as rendered in a real headless Chromium (Playwright), as a student would use them."""

from __future__ import annotations

import pytest

from tests.browser_helpers import ARTIFACTS
from ui.pages import PAGES

pytestmark = pytest.mark.browser

PLOT = ".js-plotly-plot"
TRACE_YS = f"() => Array.from(document.querySelector('{PLOT}').data).map(t => t.y)"


def wait_for_app(page, timeout: float = 60_000) -> None:
    """The page has rendered its title and Streamlit's 'Running…' status widget is gone."""
    page.wait_for_selector("h1", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def no_exceptions(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()
    assert not page.errors, page.errors


def test_every_page_is_reachable_from_the_sidebar(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.wait_for(timeout=30_000)
    for info in PAGES:
        link = nav.locator('a[data-testid="stSidebarNavLink"]').filter(
            has=page.get_by_text(info.title, exact=True))
        assert link.count() == 1, f"sidebar has no link to {info.title}"
        link.click()
        page.wait_for_url(f"**/{'' if info.default else info.url_path}*")
        wait_for_app(page)
        page.wait_for_selector("h1", timeout=60_000)
        no_exceptions(page)


def test_gallery_slider_redraws_the_chart(page, app_url):
    page.goto(f"{app_url}/gallery?act=sigmoid,swish")
    wait_for_app(page)
    page.wait_for_selector(PLOT, timeout=60_000)
    before = page.evaluate(TRACE_YS)
    assert len(before) == 4  # f and f' for two activations

    slider = page.locator('[data-testid="stSlider"]').filter(has_text="beta").get_by_role("slider")
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"(b) => JSON.stringify(({TRACE_YS})()) !== JSON.stringify(b)", arg=before,
                           timeout=30_000)
    wait_for_app(page)
    after = page.evaluate(TRACE_YS)
    assert after[0] == before[0], "sigmoid did not change"
    assert after[2] != before[2], "swish redrawn with the new beta"
    assert "swish.beta=1.5" in page.url
    no_exceptions(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "gallery.png"))
