"""The gallery's gated surfaces and instant morph in a real headless Chromium.

Script reruns are counted on the server: the test server runs with Streamlit's debug log, which writes
"Running script" once per script run, so a chart that changes with no new such line changed in the
browser alone.
"""

from __future__ import annotations

import pytest

from tests.system.browser_helpers import ARTIFACTS
from tests.system.test_browser import PLOT, no_exceptions, wait_for_app

pytestmark = pytest.mark.browser


def test_gated_unit_is_drawn_as_a_surface_with_its_gradient_field_and_slice(page, app_url):
    page.goto(f"{app_url}/gallery?act=swiglu")
    wait_for_app(page)
    page.wait_for_function(f"""() => Array.from(document.querySelectorAll('{PLOT}')).some(
        p => p._fullData && p._fullData.some(t => t.type === 'surface'))""", timeout=60_000)
    kinds = page.evaluate(f"""() => Array.from(document.querySelectorAll('{PLOT}')).map(
        p => p._fullData.map(t => t.type + ':' + ((t.meta || {{}}).series || '')))""")
    assert ["surface:surface", "contour:contour", "scatter:gradient", "scatter:slice_line", "scatter:y",
            "scatter:dy"] in kinds
    # The 3-D scene and the 2-D panels were drawn (a WebGL canvas, contour paths, arrow markers).
    assert page.locator(f"{PLOT} .gl-container canvas").count() >= 1
    assert page.locator(f"{PLOT} .contourlayer path").count() > 0
    assert page.locator(f"{PLOT} .scatterlayer .point").count() >= 13 * 13
    no_exceptions(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "gallery_gated.png"), full_page=True)
