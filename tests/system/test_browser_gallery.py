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


MORPH_JS = "Array.from(document.querySelectorAll('.js-plotly-plot')).find(g => g.layout && g.layout.sliders " \
           "&& g.layout.sliders.length)"


def _morph_state(page) -> dict:
    return page.evaluate(f"""() => {{ const g = {MORPH_JS};
        const grip = g.querySelector('.slider-grip-rect').getBoundingClientRect();
        const rail = g.querySelector('.slider-rail-rect').getBoundingClientRect();
        return {{path: g.querySelector('.scatterlayer .trace path.js-line').getAttribute('d'),
                 active: g._fullLayout.sliders[0].active, label: g._fullLayout.sliders[0].steps[
                     g._fullLayout.sliders[0].active].label,
                 grip: [grip.x + grip.width / 2, grip.y + grip.height / 2], rail: [rail.x, rail.width]}}; }}""")


def test_dragging_the_morph_slider_changes_the_chart_without_a_script_run(page, tmp_path):
    """Counted on the server: Streamlit's debug log writes 'Running script' once per script run."""
    import sys

    from tests.system.browser_helpers import free_port, streamlit_server

    port = free_port()
    cmd = [sys.executable, "-m", "ui.launch", "--server.headless=true", f"--server.port={port}",
           "--server.address=127.0.0.1", "--logger.level=debug"]
    with streamlit_server(command=cmd, port=port) as url:
        log = ARTIFACTS / f"server-{port}.log"
        runs = lambda: log.read_text().count("Running script")  # noqa: E731
        page.goto(f"{url}/gallery?act=swish&morph=swish.beta")
        wait_for_app(page)
        page.wait_for_function(f"() => !!({MORPH_JS})", timeout=60_000)
        page.evaluate(f"() => ({MORPH_JS}).scrollIntoView({{block: 'center'}})")
        page.wait_for_timeout(1000)
        before, runs_before = _morph_state(page), runs()
        assert before["label"] == "1"
        x, y = before["grip"]
        page.mouse.move(x, y)
        page.mouse.down()
        for k in range(1, 11):  # a hand dragging right across several steps
            page.mouse.move(x + 12 * k, y)
            page.wait_for_timeout(30)
        page.mouse.up()
        page.wait_for_function(f"(d) => ({MORPH_JS}).querySelector('.scatterlayer .trace path.js-line')"
                               ".getAttribute('d') !== d", arg=before["path"], timeout=5_000)
        page.wait_for_timeout(1500)  # time for any (unwanted) rerun to reach the server
        after = _morph_state(page)
        assert after["active"] > before["active"] and float(after["label"]) > 1.0
        assert after["path"] != before["path"]
        assert runs() == runs_before, "the morph slider must not rerun the script"
        # The counter works: a sidebar slider does rerun the script.
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="beta").get_by_role("slider")
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"() => ({MORPH_JS}) && ({MORPH_JS})._fullLayout.sliders[0].steps["
                               f"({MORPH_JS})._fullLayout.sliders[0].active].label === '1.05'", timeout=30_000)
        assert runs() > runs_before
        no_exceptions(page)
        page.screenshot(path=str(ARTIFACTS / "gallery_morph.png"))
