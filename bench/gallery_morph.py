"""Gallery morph in Chromium: morph-slider drag -> changed chart, vs a sidebar slider's rerun, same run.

One server and one headless Chromium page (``/gallery?act=sigmoid,swish&morph=swish.beta``).  Both
latencies are measured inside the page, from the input event's timestamp to the moment the chart's
SVG path changes (a MutationObserver on its ``d`` attribute; the next animation frame is reported
too):

* morph: the mouse held on the morph chart's slider and moved one step at a time (answered in the
  browser from the frames the chart carries);
* sidebar: ArrowRight on the sidebar's beta slider (a Streamlit rerun: script, figure, websocket,
  Plotly.react), until the ordinary chart's Swish path changes.

Target: morph median <= 50 ms and sidebar / morph >= 5.  Script runs are counted on the server
(Streamlit's debug log says "Running script" once per run): the morph drags must add none.
"""

from __future__ import annotations

import statistics
import sys

from common import ROOT, cli, emit  # noqa: F401  (ROOT puts the repo on sys.path)

from tests.system.browser_helpers import ARTIFACTS, free_port, launch_chromium, streamlit_server

MORPH = ("Array.from(document.querySelectorAll('.js-plotly-plot')).find(g => g.layout && g.layout.sliders "
         "&& g.layout.sliders.length)")
MAIN = ("Array.from(document.querySelectorAll('.js-plotly-plot')).find(g => g.layout && !(g.layout.sliders "
        "&& g.layout.sliders.length))")
INSTALL = f"""(which) => {{
    window.__lat = []; window.__t0 = null;
    const g = which === 'morph' ? ({MORPH}) : ({MAIN});
    const kind = which === 'morph' ? 'mousemove' : 'keydown';
    if (window.__listener) document.removeEventListener(window.__kind, window.__listener, true);
    window.__listener = e => {{ window.__t0 = e.timeStamp; }};
    window.__kind = kind;
    document.addEventListener(kind, window.__listener, true);
    if (window.__obs) window.__obs.disconnect();
    window.__obs = new MutationObserver(() => {{
        if (window.__t0 === null) return;
        const t0 = window.__t0, t1 = performance.now();
        window.__t0 = null;
        requestAnimationFrame(() => window.__lat.push([t1 - t0, performance.now() - t0]));
    }});
    const root = which === 'morph' ? g : document.querySelector('[data-testid="stMain"]') || document.body;
    window.__obs.observe(root, {{attributes: true, subtree: true, attributeFilter: ['d']}});
}}"""


def _wait_idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def main() -> None:
    args = cli(__doc__)
    from playwright.sync_api import sync_playwright

    morph_steps = 12 if args.quick else 40
    key_presses = 4 if args.quick else 12
    port = free_port()
    cmd = [sys.executable, "-m", "ui.launch", "--server.headless=true", f"--server.port={port}",
           "--server.address=127.0.0.1", "--logger.level=debug"]
    with streamlit_server(command=cmd, port=port) as url, sync_playwright() as p:
        log = ARTIFACTS / f"server-{port}.log"
        runs = lambda: log.read_text().count("Running script")  # noqa: E731
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/gallery?act=sigmoid,swish&morph=swish.beta")
        page.wait_for_function(f"() => !!({MORPH}) && !!({MAIN})", timeout=60_000)
        _wait_idle(page)
        figure_bytes = page.evaluate(f"() => JSON.stringify(({MORPH})._transitionData._frames).length")

        # --- morph: hold the grip, move one step at a time, right then left -----------------------
        page.evaluate(f"() => ({MORPH}).scrollIntoView({{block: 'center'}})")
        page.wait_for_timeout(500)
        ticks = page.evaluate(f"""() => Array.from(({MORPH}).querySelectorAll('.slider-tick-rect'))
            .map(t => {{ const r = t.getBoundingClientRect(); return r.x + r.width / 2; }})""")
        grip = page.evaluate(f"""() => {{ const r = ({MORPH}).querySelector('.slider-grip-rect')
            .getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }}""")
        start = min(range(len(ticks)), key=lambda i: abs(ticks[i] - grip[0]))
        runs_before = runs()
        page.evaluate(INSTALL, "morph")
        page.mouse.move(*grip)
        page.mouse.down()
        page.wait_for_timeout(100)
        page.evaluate("() => { window.__lat = []; window.__t0 = null; }")
        position = start
        for k in range(morph_steps):
            position += 1 if (k // 10) % 2 == 0 else -1
            position = min(max(position, 0), len(ticks) - 1)
            count = page.evaluate("() => window.__lat.length")
            page.mouse.move(ticks[position], grip[1])
            page.wait_for_function("(n) => window.__lat.length > n", arg=count, timeout=5_000)
            page.wait_for_timeout(40)
        page.mouse.up()
        morph = page.evaluate("() => window.__lat")
        page.wait_for_timeout(1500)
        morph_reruns = runs() - runs_before

        # --- sidebar: ArrowRight on the beta slider, a full Streamlit rerun each ---------------------
        page.evaluate(INSTALL, "sidebar")
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="beta").get_by_role("slider")
        sidebar = []
        runs_before = runs()
        for k in range(key_presses):
            slider.focus()
            page.evaluate("() => { window.__lat = []; window.__t0 = null; }")
            page.keyboard.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
            page.wait_for_function("() => window.__lat.length > 0", timeout=30_000)
            sidebar.append(page.evaluate("() => window.__lat[0]"))
            _wait_idle(page)
            page.wait_for_timeout(300)
        sidebar_reruns = runs() - runs_before
        browser.close()

    morph_ms = statistics.median(m[0] for m in morph)
    morph_frame_ms = statistics.median(m[1] for m in morph)
    sidebar_ms = statistics.median(s[0] for s in sidebar)
    ratio = sidebar_ms / morph_ms if morph_ms > 0 else float("inf")
    emit({"metric": "gallery morph drag -> changed chart (Chromium)", "value": morph_ms, "unit": "ms",
          "target": 50.0, "met": morph_ms <= 50.0 and ratio >= 5.0 and morph_reruns == 0,
          "reference": "sidebar slider -> changed chart (Streamlit rerun)", "reference_ms": sidebar_ms,
          "ratio_to_reference": ratio, "speedup_target": 5.0, "morph_steps": len(morph),
          "morph_min_ms": min(m[0] for m in morph), "morph_max_ms": max(m[0] for m in morph),
          "morph_next_frame_ms": morph_frame_ms, "sidebar_presses": len(sidebar),
          "script_runs_during_morph": morph_reruns, "script_runs_during_sidebar": sidebar_reruns,
          "frames_json_bytes": figure_bytes}, args.json)


if __name__ == "__main__":
    main()
