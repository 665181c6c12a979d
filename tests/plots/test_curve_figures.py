"""The gallery chart's saturation shading and undefined stretches, against independent formulas.

Saturation is the seeds' definition: |f'| < eps out to an edge of the range (f' -> 0 as x -> -inf or
+inf), not wherever f' happens to cross 0.  A formula undefined on part of the range says where, and the
y-axis comes from the finite values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from actviz.activations import choice, curves
from actviz.plots.curve_figures import activation_figure


def _curve(name_or_expr: str, lo: float = -5.0, hi: float = 5.0, points: int = 1001) -> curves.Curve:
    if any(ch in name_or_expr for ch in "()/*+"):
        return curves.compute_curve(choice.custom(name_or_expr, {}), lo, hi, points)
    return curves.compute_curve(choice.choose(name_or_expr), lo, hi, points)


def _root(f, a: float, b: float) -> float:
    for _ in range(200):
        m = 0.5 * (a + b)
        if (f(a) < 0) == (f(m) < 0):
            a = m
        else:
            b = m
    return 0.5 * (a + b)


def _gelu_slope(x: float) -> float:  # Phi(x) + x phi(x)
    return 0.5 * (1 + math.erf(x / math.sqrt(2))) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def test_gelu_is_shaded_only_on_its_left_tail_not_where_its_slope_crosses_zero():
    eps = 0.05
    c = _curve("gelu")
    zones = curves.saturated_intervals(c.x, c.dy, eps)
    edge = _root(lambda x: abs(_gelu_slope(x)) - eps, -5.0, -1.6)  # |f'| reaches eps coming from the left
    assert len(zones) == 1
    (a, b), = zones
    assert a == -5.0 and b == pytest.approx(edge, abs=0.011)
    crossing = _root(_gelu_slope, -1.5, 0.0)  # f' = 0 near -0.75: an isolated crossing, not saturation
    assert not (a <= crossing <= b)
    assert np.any(np.abs(c.dy[np.abs(c.x - crossing) < 0.05]) < eps), "the crossing is there, and not shaded"


@pytest.mark.parametrize("name, expected", [
    ("tanhshrink", []),                      # f' = tanh^2 x: < eps only around 0, inside the range
    ("relu", [(-5.0, 0.0)]),
    ("hardtanh", [(-5.0, -1.0), (1.0, 5.0)]),
    ("identity", []),
])
def test_saturation_touches_an_edge_or_is_not_there(name, expected):
    c = _curve(name)
    assert curves.saturated_intervals(c.x, c.dy, 0.05) == [pytest.approx(z, abs=1e-9) for z in expected]


def test_saturated_intervals_on_made_up_slopes():
    x = np.linspace(0, 9, 10)
    dy = np.array([0.0, 0.01, 0.5, 0.0, 0.0, 0.6, np.nan, 0.02, 0.0, 0.01])
    assert curves.saturated_intervals(x, dy, 0.05) == [(0.0, 1.0), (7.0, 9.0)]  # 3–4 is a dip inside
    assert curves.saturated_intervals(x, np.zeros(10), 0.05) == [(0.0, 9.0)]
    assert curves.saturated_intervals(x, np.ones(10), 0.05) == []
    assert curves.saturated_intervals(x, dy, 0.0) == []


@pytest.mark.parametrize("expr, texts", [
    ("log(x)", ["undefined for x ≤ 0"]),
    ("sqrt(x)", ["undefined for x < 0"]),
    ("1/x", ["undefined at x = 0"]),
    ("log(1 + x)", ["undefined for x ≤ -1"]),
    ("sqrt(1 - x*x)", ["undefined for x < -1", "undefined for x > 1"]),
    ("x * sigmoid(x)", []),
])
def test_undefined_stretches_are_found_and_named(expr, texts):
    c = _curve(expr, -5.0, 5.0, 1000)  # an even count: x = 0 is not a grid point
    assert [g.text() for g in c.undefined] == texts
    with np.errstate(all="ignore"):
        fx = {"log(x)": np.log, "sqrt(x)": np.sqrt, "1/x": lambda v: 1 / v, "log(1 + x)": np.log1p,
              "sqrt(1 - x*x)": lambda v: np.sqrt(1 - v * v), "x * sigmoid(x)": lambda v: v / (1 + np.exp(-v))}[expr]
        assert np.array_equal(~np.isfinite(c.y), ~np.isfinite(fx(c.x))), "NaN exactly where numpy's f is not finite"


def test_the_chart_says_where_a_formula_is_undefined_and_sizes_y_from_finite_values():
    gelu, log = _curve("gelu", points=1000), _curve("log(x)", points=1000)
    fig = activation_figure([gelu, log], saturation_eps=0.05)
    notes = [a.text for a in fig.layout.annotations if (a.name or "").startswith("undefined:")]
    assert notes == ["f(x) = log(x): undefined for x ≤ 0"]
    gap = next(s for s in fig.layout.shapes if s.name == f"undefined:{log.choice.key}")
    assert (gap.x0, gap.x1) == (-5.0, 0.0)
    lo, hi = fig.layout.yaxis.range
    finite = np.concatenate([v[np.isfinite(v)] for v in (gelu.y, gelu.dy, log.y, log.dy)])
    assert math.isfinite(lo) and math.isfinite(hi)
    # The axis shows the curves, not f' = 1/x's spike at the domain's edge (100 at x = 0.01).
    assert finite.max() > 4 * hi and hi < 10 and lo < math.log(0.25)
    assert lo >= finite.min()


def test_six_activations_get_one_labelled_saturation_lane_each():
    names = ["sigmoid", "tanh", "relu", "gelu", "elu", "mish"]
    cs = [_curve(n) for n in names]
    fig = activation_figure(cs, saturation_eps=0.05)
    assert list(fig.layout.yaxis2.ticktext) == [c.label for c in cs]
    for k, c in enumerate(cs):
        lane = len(cs) - 1 - k
        rects = [s for s in fig.layout.shapes if s.name == f"saturated:{c.choice.key}"]
        assert [(s.x0, s.x1) for s in rects] == curves.saturated_intervals(c.x, c.dy, 0.05)
        assert all(lane < s.y0 < s.y1 < lane + 1 and s.yref == "y2" for s in rects)
    assert len(fig.data) == 12, "lanes are shapes: the traces are the curves alone"
    grid = activation_figure(cs, saturation_eps=0.05, layout="grid")
    assert {s.name for s in grid.layout.shapes} == {f"saturated:{c.choice.key}" for c in cs}
    assert activation_figure(cs, saturation_eps=0.0).layout.shapes == ()


def test_a_pole_between_grid_points_breaks_the_line():
    c = _curve("1/x", points=1000)
    (trace,) = [t for t in activation_figure([c]).data if t.meta["series"] == "y"]
    at = list(trace.x).index(0.0)
    assert math.isnan(trace.y[at]) and trace.y[at - 1] < -100 < 100 < trace.y[at + 1]
    assert len(trace.x) == 1001 and list(np.delete(np.asarray(trace.x), at)) == list(c.x)


def test_grid_axis_titles_only_under_the_lowest_panel_of_each_column():
    cs = [_curve(n) for n in ("sigmoid", "tanh", "relu", "gelu", "elu")]
    fig = activation_figure(cs, layout="grid", saturation_eps=0.05)
    titled = {name for name in ("xaxis", "xaxis2", "xaxis3", "xaxis4", "xaxis5")
              if fig.layout[name].title.text == "x"}
    assert titled == {"xaxis3", "xaxis4", "xaxis5"}  # panel 3 has nothing below it; 1 and 2 have 4 and 5


def test_rrelu_is_drawn_with_the_band_its_training_mode_samples_from():
    import torch
    import torch.nn.functional as F

    c = _curve("rrelu")
    lower, upper = c.band
    x = c.x
    np.testing.assert_allclose(lower, np.where(x > 0, x, x / 3), rtol=1e-12)  # slope u = 1/3 below 0
    np.testing.assert_allclose(upper, np.where(x > 0, x, x / 8), rtol=1e-12)  # slope l = 1/8
    # torch's own training-mode RReLU: every draw lies in the band, and the draws reach across it.
    torch.manual_seed(0)
    draws = F.rrelu(torch.from_numpy(x).repeat(200, 1), 1 / 8, 1 / 3, training=True).numpy()
    assert (draws >= lower - 1e-12).all() and (draws <= upper + 1e-12).all()
    neg = x < -1
    slopes = draws[:, neg] / x[neg]
    assert slopes.min() < 1 / 8 + 0.01 and slopes.max() > 1 / 3 - 0.01
    assert _curve("relu").band is None and _curve("leaky_relu").band is None

    fig = activation_figure([_curve("relu"), c])
    series = [(t.meta["activation"], t.meta["series"]) for t in fig.data]
    key = c.choice.key
    lo, hi = series.index((key, "band_lower")), series.index((key, "band_upper"))
    assert hi == lo + 1 and series.index((key, "y")) > hi  # the upper edge fills down to the lower, behind f
    assert fig.data[hi].fill == "tonexty" and list(fig.data[hi].y) == list(upper)
    assert not any(s == "band_lower" for a, s in series if a != key)
