"""The hot figure builders (the gallery's chart, the lab's live charts) write plain dicts and skip Plotly's
validation (30x faster); the tests validate every figure.  Here both ways must give exactly the same figure,
and a misspelt property must fail under the tests."""

from __future__ import annotations

import json

import plotly.io as pio
import pytest

from actviz.activations import choice, curves
from actviz.plots import training_figures as tf
from actviz.plots.curve_figures import activation_figure
from actviz.plots.plain_figures import STRICT_ENV, grid_layout, plain_figure
from actviz.training.config import EpochRecord, RunProgress, RunStatus


def _record(epoch: int, acc: float) -> EpochRecord:
    return EpochRecord(epoch, 1 / epoch, 0.5, 1.0, 0.5, 1.0, acc, 0.01)


RUNS = [RunProgress("ReLU", "relu", RunStatus.DONE, history=[_record(e, 0.5 + e / 20) for e in (1, 2, 3)]),
        RunProgress("Tanh", "tanh", RunStatus.RUNNING, history=[_record(1, 0.4)], live=[(1.2, 0.8), (1.5, 0.7)]),
        RunProgress("GELU", "gelu", RunStatus.RUNNING, history=[], live=[(0.2, 0.9), (0.5, float("nan"))])]
MATRIX = [[50, 3, 0], [4, 40, 6], [0, 2, 45]]

BUILDERS = {
    **{f"{metric}, legend {legend}": (lambda metric=metric, title=title, y=y, legend=legend:
                                      tf.metric_figure(RUNS, metric, title, y, 5 if legend else None, 250, legend))
       for metric, title, y in (*tf.METRICS, tf.REGRESSION_METRICS[2]) for legend in (True, False)},
    **{f"confusion x{n}": (lambda n=n: tf.confusion_figure([f"run {i}" for i in range(n)], [MATRIX] * n,
                                                            ["setosa", "versicolor", "<i>v</i>"], row_height=230))
       for n in (1, 2, 4, 7)},
}



def _curves(*names: str) -> list[curves.Curve]:
    return [curves.compute_curve(choice.custom(n, {}) if "(" in n else choice.choose(n), -5.0, 5.0, 1000)
            for n in names]


GALLERY = {"two": ("sigmoid", "swish"), "six": ("sigmoid", "tanh", "relu", "gelu", "elu", "mish"),
           "undefined and a pole": ("log(x)", "1/(x)"), "a training band": ("relu", "rrelu"), "none": ()}
BUILDERS.update({
    f"gallery {name}, {layout}, eps {eps}, f'' {d2}": (
        lambda names=names, layout=layout, eps=eps, d2=d2: activation_figure(_curves(*names), d2, layout, eps))
    for name, names in GALLERY.items()
    for layout in ("overlay", "grid") for eps in (0.0, 0.05) for d2 in (False, True)})


def _as_sent(fig) -> dict:
    """What Streamlit sends the browser, without the template (the same object either way)."""
    sent = json.loads(pio.to_json(fig, validate=False))
    sent["layout"].pop("template", None)
    return sent


@pytest.mark.parametrize("name", BUILDERS)
def test_unvalidated_figures_are_what_plotly_would_validate(name, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    fast = _as_sent(BUILDERS[name]())
    monkeypatch.setenv(STRICT_ENV, "1")
    assert fast == _as_sent(BUILDERS[name]())


def test_the_grid_layout_is_make_subplots_layout(monkeypatch):
    from plotly.subplots import make_subplots

    titles = ["a", "b<br>c", "d"]
    expected = make_subplots(rows=2, cols=2, subplot_titles=titles, horizontal_spacing=0.09,
                             vertical_spacing=0.2).to_dict()["layout"]
    expected.pop("template")
    assert grid_layout(2, 2, titles, 0.09, 0.2) == expected
    assert grid_layout(2, 2, ["x", "y", "z"], 0.09, 0.2)["annotations"][1]["text"] == "y"  # cached shape, new titles


def test_a_misspelt_property_fails_under_the_tests(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ValueError, match="heigth"):
        plain_figure([], {"heigth": 300})
    monkeypatch.delenv(STRICT_ENV)
    assert plain_figure([], {"heigth": 300}).to_dict()["layout"]["heigth"] == 300  # served as given
