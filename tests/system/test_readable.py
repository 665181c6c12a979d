"""Every page readable on a classroom projector (1280×720) and at 150 % browser zoom, in real Chromium.

- No button's or table header's text is clipped: for every button and table header (and everything inside
  them) the text fits, i.e. its scroll width does not exceed its client width; and no word in them is
  broken across two lines ("Run aga / in"): they wrap at spaces and hyphens only.
- No chart's axis titles, subplot titles or annotations overlap one another (grids included).
- Each page's title is whole: below Streamlit's top bar and not covered by the block drawn after it
  (the training lab's compact title once lost its lower half under the Start row).
- Each gradient-flow preset puts the evidence of its own lesson first: the first chart on the page is the
  lesson's chart, and it lies entirely within the first 1280×720 screen.

Zoom is emulated as the browser does it: the page sees a 1.5× smaller viewport at 1.5 device pixels per
CSS pixel.  Screenshots of every view go to test-artifacts/readable/ (or $ACTVIZ_SHOTS: `make screenshots`
writes the ones in docs/screens/).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from actviz.views.lessons import GRADIENT_PRESETS
from tests.system.browser_helpers import ARTIFACTS
from tests.system.test_browser import PLOT, no_exceptions, wait_for_app
from ui.pages import PAGES

pytestmark = pytest.mark.browser

SCREEN = (1280, 720)
ZOOMS = (1.0, 1.5)
SHOTS = Path(os.environ.get("ACTVIZ_SHOTS") or ARTIFACTS / "readable")

CLIPPED_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('button, button *, th, th *')) {
    if (el.offsetParent === null || !(el.innerText || '').trim()) continue;
    if (el.scrollWidth > el.clientWidth + 1)
      out.push(`${el.tagName} "${el.innerText.trim().slice(0, 60)}": ${el.scrollWidth} > ${el.clientWidth}`);
  }
  return out; }"""

# Words split across two lines inside a button or table header ("Run aga|in"): wrap at spaces and hyphens only.
SPLIT_WORDS_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('button, th')) {
    if (el.offsetParent === null) continue;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /[^\\s\\-]+/g;  // a break after a hyphen ("zero-|centred") is a break between words
      let m;
      while ((m = re.exec(node.textContent))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) out.push(`${el.tagName} "${el.innerText.trim().slice(0, 40)}": "${m[0]}"`);
      }
    }
  }
  return out; }"""

# Axis titles, subplot titles and other chart annotations that overlap one another (in any chart).
OVERLAP_JS = """() => {
  const out = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const boxes = [];
    for (const el of plot.querySelectorAll('text, g.annotation')) {
      const cls = el.getAttribute('class') || '';
      const isTitle = el.tagName === 'text' && /^(g)?[xy]\\d*title$/.test(cls);
      if (!(isTitle || el.tagName === 'g') || !(el.textContent || '').trim()) continue;
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) boxes.push([el.textContent.trim().slice(0, 40), r]);
    }
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [a, r] = boxes[i], [b, q] = boxes[j];
      const w = Math.min(r.right, q.right) - Math.max(r.left, q.left);
      const h = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
      if (w > 2 && h > 2) out.push(`"${a}" overlaps "${b}"`);
    }
  }
  return out; }"""

# The first chart of the page: its position and the series (trace meta) it draws.
FIRST_CHART_JS = f"""() => {{
  const p = document.querySelector('[data-testid="stMain"] {PLOT}');
  if (!p || !p.data) return null;
  const r = p.getBoundingClientRect();
  return {{top: r.top, bottom: r.bottom, left: r.left, right: r.right,
           series: [...new Set(p.data.map(t => (t.meta || {{}}).series).filter(Boolean))]}}; }}"""

# What each preset's lesson chart draws (see GradientPreset.lead).
LESSON_SERIES = {"norms": {"grad_norm"}, "symmetry": {"first_weights"}, "dead_zero": {"dead", "zero_grad"}}


# The page title's text (its line box) against Streamlit's top bar and the first block drawn after it.
TITLE_JS = """() => {
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  if (!h1) return null;
  const range = document.createRange();
  range.selectNodeContents(h1);
  const text = range.getBoundingClientRect();
  const header = document.querySelector('[data-testid="stHeader"]');
  const bar = header ? header.getBoundingClientRect().bottom : 0;
  let next = null;
  for (let el = h1.closest('[data-testid="stElementContainer"]').nextElementSibling; el; el = el.nextElementSibling) {
    const r = el.getBoundingClientRect();
    if (r.height > 0) { next = {top: r.top, text: (el.innerText || '').trim().slice(0, 40)}; break; }
  }
  return {title: h1.innerText.trim(), top: text.top, bottom: text.bottom, bar, next}; }"""


@pytest.fixture
def screen(chromium, request):
    """A page at 1280×720 seen at the zoom given by the test's ``zoom`` parameter."""
    zoom = request.param
    context = chromium.new_context(viewport={"width": round(SCREEN[0] / zoom), "height": round(SCREEN[1] / zoom)},
                                   device_scale_factor=zoom)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.zoom = zoom
    yield pg
    context.close()


def _settle(page) -> None:
    wait_for_app(page)
    page.wait_for_timeout(800)  # fonts and charts laid out
    wait_for_app(page)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}@{int(page.zoom * 100)}.png"))


def _assert_title_whole(page, where: str) -> None:
    """The page title is entirely below the top bar and above whatever the page draws next."""
    title = page.evaluate(TITLE_JS)
    assert title is not None, f"{where}: no title"
    assert title["top"] >= title["bar"] - 0.5, f"{where} at {page.zoom:.0%} zoom: title under the top bar {title}"
    if title["next"] is not None:
        assert title["next"]["top"] >= title["bottom"] - 0.5, \
            f"{where} at {page.zoom:.0%} zoom: the title's lower part is hidden under the next block {title}"


def _assert_nothing_clipped(page, where: str) -> None:
    clipped = page.evaluate(CLIPPED_JS)
    assert not clipped, f"{where} at {page.zoom:.0%} zoom: " + "; ".join(clipped)
    split = page.evaluate(SPLIT_WORDS_JS)
    assert not split, f"{where} at {page.zoom:.0%} zoom, words broken across lines: " + "; ".join(split)
    overlaps = page.evaluate(OVERLAP_JS)
    assert not overlaps, f"{where} at {page.zoom:.0%} zoom, chart titles overlap: " + "; ".join(overlaps)


@pytest.mark.parametrize("screen", ZOOMS, indirect=True, ids=lambda z: f"{z:.0%}")
@pytest.mark.parametrize("info", PAGES, ids=lambda p: p.url_path)
def test_no_clipped_button_or_header_text(screen, app_url, info):
    screen.goto(f"{app_url}/{'' if info.default else info.url_path}")
    _settle(screen)
    screen.wait_for_timeout(1500)
    no_exceptions(screen)
    _assert_nothing_clipped(screen, info.title)
    _assert_title_whole(screen, info.title)
    _shot(screen, info.url_path)


@pytest.mark.parametrize("screen", ZOOMS, indirect=True, ids=lambda z: f"{z:.0%}")
def test_gradient_flow_presets_lead_with_their_lesson(screen, app_url):
    screen.goto(f"{app_url}/gradient-flow")
    _settle(screen)
    for key, preset in GRADIENT_PRESETS.items():
        screen.get_by_role("radio", name=preset.title, exact=True).click()
        screen.wait_for_url(f"**preset={key}*", timeout=60_000)
        expected = LESSON_SERIES[preset.lead]
        screen.wait_for_function(f"() => {{ const c = ({FIRST_CHART_JS})(); return c && "
                                 f"{sorted(expected)}.every(s => c.series.includes(s)); }}", timeout=60_000)
        _settle(screen)
        no_exceptions(screen)
        _assert_nothing_clipped(screen, f"gradient flow, {preset.title}")
        _shot(screen, f"gradient-flow-{key}")
        if screen.zoom == 1.0:  # the lesson chart is on the projector's first screen, whole
            chart = screen.evaluate(FIRST_CHART_JS)
            assert expected <= set(chart["series"]), (key, chart["series"])
            assert 0 <= chart["top"] and chart["bottom"] <= SCREEN[1], (key, chart)
            assert chart["right"] <= SCREEN[0], (key, chart)


@pytest.mark.parametrize("screen", ZOOMS, indirect=True, ids=lambda z: f"{z:.0%}")
def test_training_lab_results_are_readable(screen, app_url):
    screen.goto(f"{app_url}/training-lab")
    _settle(screen)
    epochs = screen.get_by_label("Epochs")
    epochs.fill("5")
    epochs.press("Enter")
    _settle(screen)
    screen.get_by_role("button", name="Start training").click()
    screen.get_by_role("heading", name="Results").wait_for(timeout=120_000)
    _settle(screen)
    no_exceptions(screen)
    _assert_nothing_clipped(screen, "training lab with results")
    screen.evaluate("window.scrollTo(0, 0)")
    _assert_title_whole(screen, "training lab with results")
    _shot(screen, "training-lab-results")


MORPH_JS = ("() => { const g = Array.from(document.querySelectorAll('.js-plotly-plot')).find(g => g.layout && "
            "g.layout.sliders && g.layout.sliders.length); if (!g) return null; "
            "const rail = g.querySelector('.slider-rail-rect').getBoundingClientRect(); "
            "const grip = g.querySelector('.slider-grip-rect').getBoundingClientRect(); "
            "return {label: g._fullLayout.sliders[0].steps[g._fullLayout.sliders[0].active].label, "
            "grip: [grip.x + grip.width / 2, grip.y + grip.height / 2], rail: [rail.x, rail.width]}; }")


# The chart's play/pause buttons against its slider's value label, rail and tick labels.
CONTROLS_OVERLAP_JS = """() => {
  const out = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const buttons = [...plot.querySelectorAll('g.updatemenu-button')].map(b => b.getBoundingClientRect());
    const parts = plot.querySelectorAll('.slider-current-value, .slider-rail-rect, .slider-label, .slider-grip-rect');
    for (const el of parts) {
      const q = el.getBoundingClientRect();
      for (const r of buttons)
        if (Math.min(r.right, q.right) - Math.max(r.left, q.left) > 1 &&
            Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top) > 1)
          out.push(`${el.getAttribute('class')} "${(el.textContent || '').trim()}"`);
    }
  }
  return out; }"""


@pytest.mark.parametrize("screen", ZOOMS, indirect=True, ids=lambda z: f"{z:.0%}")
def test_gallery_morph_and_gated_surface_are_readable(screen, app_url):
    """The README's gallery pictures: Swish's β morphed in the browser, and SwiGLU's surface and gradient field."""
    screen.goto(f"{app_url}/gallery?act=swish&morph=swish.beta")
    _settle(screen)
    screen.wait_for_function(f"() => !!({MORPH_JS})()", timeout=60_000)
    screen.evaluate("() => document.querySelector('.js-plotly-plot').scrollIntoView({block: 'end'})")
    screen.wait_for_timeout(800)
    state = screen.evaluate(MORPH_JS)
    assert state["label"] == "1"
    (x, y), (left, width) = state["grip"], state["rail"]
    screen.mouse.move(x, y)
    screen.mouse.down()
    target = left + 0.4 * width  # β about 4: the curve bends towards ReLU
    for k in range(1, 11):
        screen.mouse.move(x + (target - x) * k / 10, y)
        screen.wait_for_timeout(30)
    screen.mouse.up()
    screen.wait_for_function(f"() => parseFloat(({MORPH_JS})().label) > 3", timeout=10_000)
    screen.wait_for_timeout(500)
    no_exceptions(screen)
    _assert_nothing_clipped(screen, "gallery, morph")
    assert screen.evaluate(CONTROLS_OVERLAP_JS) == [], "the morph's play buttons cover its slider"
    size = screen.viewport_size
    screen.mouse.move(size["width"] - 4, size["height"] // 2)  # in the margin: no hover toolbar in the picture
    screen.wait_for_timeout(300)
    _shot(screen, "gallery-morph")

    screen.goto(f"{app_url}/gallery?act=swiglu")
    _settle(screen)
    screen.wait_for_function(f"""() => Array.from(document.querySelectorAll('{PLOT}')).some(
        p => p._fullData && p._fullData.some(t => t.type === 'surface'))""", timeout=60_000)
    screen.evaluate(f"""() => {{ const plot = Array.from(document.querySelectorAll('{PLOT}')).find(
        p => p._fullData.some(t => t.type === 'surface'));
        plot.style.scrollMarginTop = '70px';  // if it does not fit, its titles stay below the top bar
        const fits = plot.getBoundingClientRect().height + 70 < window.innerHeight;
        plot.scrollIntoView({{block: fits ? 'center' : 'start'}}); }}""")
    screen.wait_for_timeout(1500)
    no_exceptions(screen)
    _assert_nothing_clipped(screen, "gallery, gated unit")
    _shot(screen, "gallery-gated")


@pytest.mark.parametrize("screen", ZOOMS, indirect=True, ids=lambda z: f"{z:.0%}")
def test_training_lab_learned_view_is_readable(screen, app_url):
    """The README's pictures of learned activation parameters: PReLU's slope, Swish's β and DyT's α per
    epoch, and one run's learned shape through the epochs."""
    screen.goto(f"{app_url}/training-lab?act=prelu,swish,dyt&learn=prelu.init,swish.beta,dyt.alpha&epochs=20")
    _settle(screen)
    screen.get_by_role("button", name="Start training").click()
    screen.get_by_role("heading", name="Results").wait_for(timeout=180_000)
    _settle(screen)
    screen.locator(".st-key-t_view").get_by_text("Learned", exact=True).click()
    shape = screen.locator(".st-key-t_chart_learned_shape .js-plotly-plot")
    shape.wait_for(timeout=60_000)
    _settle(screen)
    size = screen.viewport_size
    screen.mouse.move(size["width"] - 4, size["height"] // 2)  # no hover toolbar in the pictures
    no_exceptions(screen)
    _assert_nothing_clipped(screen, "training lab, learned view")
    SHOTS.mkdir(parents=True, exist_ok=True)
    zoom = int(screen.zoom * 100)
    screen.locator(".st-key-t_chart_learned").screenshot(path=str(SHOTS / f"training-lab-learned-params@{zoom}.png"))
    shape.screenshot(path=str(SHOTS / f"training-lab-learned-shape@{zoom}.png"))
