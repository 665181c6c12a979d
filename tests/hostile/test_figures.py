"""Text a CSV supplies (class names) reaches Plotly figures as text: Plotly renders <a href> in tick labels
as a clickable link, so such names are written with entities (a Chromium probe showed the link before)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from actviz.plots import training_figures
from actviz.plots.plaintext import plain
from tests.hostile.fuzz import examples

LINK = '<a href="https://ev.il">cat</a>'


def _texts(fig) -> str:
    return json.dumps(fig.to_plotly_json()["data"]) + json.dumps(fig.to_plotly_json()["layout"].get("annotations", []))


def test_class_names_with_html_are_shown_as_text_in_the_confusion_matrix():
    fig = training_figures.confusion_figure(["f(x) = where(x<b ,x,x>0)"], [[[3, 1], [0, 4]]], [LINK, "<b>dog</b>"])
    heat = fig.data[0]
    assert list(heat.x) == list(heat.y) == ["&lt;a href=\"https://ev.il\"&gt;cat&lt;/a&gt;", "&lt;b&gt;dog&lt;/b&gt;"]
    texts = _texts(fig).replace("<br>", "")  # the panel titles' own line breaks are ours
    assert "<a" not in texts and "<b" not in texts


@examples("escape")
@given(st.text())
def test_plain_leaves_no_tag_and_keeps_the_text(text):
    out = plain(text)
    assert "<" not in out and ">" not in out
    assert out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text
