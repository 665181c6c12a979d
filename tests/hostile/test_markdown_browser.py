"""Links carrying Markdown, rendered by the real frontend (headless Chromium): the app's own warning and
error boxes show the text, never a clickable link, and the browser never fetches an image for it."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.system.test_browser import no_exceptions, wait_for_app
from ui.text import WORD_JOINER

pytestmark = pytest.mark.browser

TRAP = "127.0.0.1:9"  # nothing listens there; a request to it means the page tried to fetch something
CASES = {
    "link": ("gallery", {"act": "[Login here](https://ev.il)"}),
    "image": ("gallery", {"act": f"![t](http://{TRAP}/a.png)"}),
    "bare URL, e-mail and extensions": ("gradient-flow", {"act": f"https://ev.il/x,www.ev.il,a@ev.il,:red[x],$x^2$,"
                                                                 f"<img src=http://{TRAP}/b.png>"}),
    "formula": ("gallery", {"custom": "1", "expr": "x + [Login](ev.il)", "eparams": ""}),
    "parameter": ("gallery", {"act": "swish", "swish.beta": f"![t](http://{TRAP}/c.png)"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_markdown_in_a_link_is_shown_as_text(page, app_url, case):
    path, query = CASES[case]
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{app_url}/{path}?{urllib.parse.urlencode(query)}")
    wait_for_app(page)
    boxes = page.locator('[data-testid="stAlert"]')
    boxes.first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    no_exceptions(page)
    text = " ".join(boxes.all_inner_texts()).replace(WORD_JOINER, "")
    for box in range(boxes.count()):
        alert = boxes.nth(box)
        assert alert.locator("a, img, .katex, strong, em, code").count() == 0, alert.inner_html()
    hosts = {urllib.parse.urlsplit(u).netloc for u in requests}
    assert not hosts & {TRAP, "ev.il", "www.ev.il"}, hosts
    main = page.locator('[data-testid="stMain"]')
    assert main.locator('a[href*="ev.il"], img[src*="127.0.0.1:9"]').count() == 0
    visible = {"link": ["[Login here](https://ev.il)"], "image": [f"![t](http://{TRAP}/a.png)"],
               "bare URL, e-mail and extensions": ["https://ev.il/x", "www.ev.il", "a@ev.il", ":red[x]", "$x^2$",
                                                   f"<img src=http://{TRAP}/b.png>"],
               "formula": ["[Login](ev.il)"], "parameter": ["![t](http://127.0."]}[case]  # quoted up to 20 chars
    for fragment in visible:
        assert fragment in text, (fragment, text)
