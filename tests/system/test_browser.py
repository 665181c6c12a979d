"""The pages as rendered in a real headless Chromium (Playwright), as a student would use them."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tests.system.browser_helpers import ARTIFACTS
from ui.pages import PAGES

pytestmark = pytest.mark.browser

PLOT = ".js-plotly-plot"
# null while Streamlit re-mounts the chart (its plot element exists before Plotly has drawn into it)
TRACE_YS = (f"() => {{ const p = document.querySelector('{PLOT}'); "
            "return p && p.data ? Array.from(p.data).map(t => t.y) : null; }")


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


@pytest.mark.parametrize("info", [p for p in PAGES if not p.default], ids=lambda p: p.url_path)
def test_a_shared_link_works_as_a_fresh_servers_first_request(page, info):
    """With a pages/ folder Streamlit starts in its old multipage mode; the first visitor's link must
    still land on the right page through app.py, with no 'Page not found' dialog."""
    from tests.system.browser_helpers import streamlit_server

    with streamlit_server() as url:
        page.goto(f"{url}/{info.url_path}")
        wait_for_app(page)
        page.wait_for_timeout(1500)
        assert page.get_by_text("Page not found").count() == 0
        assert page.locator("h1").first.inner_text().strip() != ""
        nav = page.locator('[data-testid="stSidebarNav"]')
        assert nav.get_by_text(info.title, exact=True).count() == 1, "app.py's navigation is in charge"
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
    # Ten presses can take several reruns: wait for the last value's rerun before reading the chart.
    page.wait_for_function("() => location.href.includes('swish.beta=1.5')", timeout=30_000)
    page.wait_for_function(f"(b) => {{ const y = ({TRACE_YS})(); "
                           "return y !== null && JSON.stringify(y) !== JSON.stringify(b); }", arg=before,
                           timeout=30_000)
    wait_for_app(page)
    after = page.evaluate(TRACE_YS)
    assert after[0] == before[0], "sigmoid did not change"
    assert after[2] != before[2], "swish redrawn with the new beta"
    assert "swish.beta=1.5" in page.url
    no_exceptions(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "gallery.png"))
    # The CSV is made when clicked, from the curves on screen: Swish at the new beta.
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download plotted curves (CSV)").click()
    rows = pd.read_csv(download.value.path())
    swish = rows[rows["activation"] == "swish"]
    x = torch.tensor(swish["x"].to_numpy())
    assert torch.allclose(torch.tensor(swish["f"].to_numpy()), x * torch.sigmoid(1.5 * x), atol=1e-6)


# Traces arrive as typed arrays ({dtype, bdata}); plotly.js decodes them into _fullData, whose
# _length is the number of points drawn.
POINTS_JS = f"""() => {{
    const plot = document.querySelector('.st-key-t_chart_train_loss {PLOT}');
    return plot && plot._fullData ? plot._fullData.reduce((n, t) => n + (t._length || 0), 0) : 0; }}"""


def _points(page) -> int:
    """Data points in the training lab's train-loss chart."""
    return page.evaluate(POINTS_JS)


def test_training_lab_charts_grow_live_and_results_appear(page, app_url):
    page.goto(f"{app_url}/training-lab")
    wait_for_app(page)
    # Long enough that the chart is seen growing on a fast machine too (40 epochs take well under 2 s).
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("400")
    epochs.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function(f"() => ({POINTS_JS})() > 0", timeout=60_000)
    first = _points(page)
    page.wait_for_function(f"(n) => ({POINTS_JS})() > n", arg=first, timeout=60_000)
    assert _points(page) > first, "the chart grew while the job was running"
    page.get_by_role("heading", name="Results").wait_for(timeout=120_000)
    table = page.locator('[data-testid="stTable"]').first
    table.wait_for(timeout=30_000)
    no_exceptions(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "training_lab.png"), full_page=True)


def test_gradient_flow_preset_shows_vanishing_gradients(page, app_url):
    page.goto(f"{app_url}/gradient-flow")
    wait_for_app(page)
    page.get_by_role("radio", name="Vanishing gradients").click()
    page.wait_for_function(f"""() => {{
        const p = document.querySelector('{PLOT}');
        return p && p._fullData && p._fullData.some(t => (t.name || '').includes('Sigmoid'))
                                 && p._fullData.some(t => (t.name || '').includes('ReLU')); }}""", timeout=60_000)
    wait_for_app(page)
    # First chart: weight-gradient norm per layer; sigmoid's falls towards the input, ReLU's does not.
    norms = page.evaluate(f"""() => {{
        const p = document.querySelector('{PLOT}');
        const out = {{}};
        for (const t of p._fullData) {{
            if (!t.name || !t.y || t.y.length < 2) continue;
            out[t.name] = Array.from(t.y);
        }}
        return out; }}""")
    sigmoid = next(v for k, v in norms.items() if "Sigmoid" in k)
    relu = next(v for k, v in norms.items() if "ReLU" in k)
    assert sigmoid[0] < sigmoid[-1] / 100, sigmoid
    assert relu[0] > relu[-1] / 10, relu
    assert "preset=" in page.url or "act=" in page.url, "the view is in the address"
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "gradient_flow.png"))
