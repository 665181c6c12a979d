"""The gallery's morph: one parameter swept across its range, computed once, played by the browser."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from actviz import limits
from actviz.activations import curves
from actviz.activations.choice import choose, custom
from actviz.activations.morph import compute_morph, parse_target, value_grid
from actviz.errors import InputError
from actviz.plots.curve_figures import morph_figure


def test_parse_target_accepts_catalogue_parameters_only():
    assert parse_target("swish.beta") == ("swish", "beta")
    assert parse_target(" LeakyReLU.negative_slope ") == ("leaky_relu", "negative_slope")
    for bad, fragment in (("swish", "activation.parameter"), ("swish.", "activation.parameter"),
                          ("nope.beta", "unknown activation"), ("swish.alpha", "no parameter"),
                          ("relu.x", "no parameter")):
        with pytest.raises(InputError, match=fragment):
            parse_target(bad)


def test_value_grid_is_ascending_holds_the_current_value_and_respects_the_rules():
    values, start = value_grid(choose("swish", {"beta": 1.37}), "beta")
    assert np.all(np.diff(values) > 0) and values[0] == 0 and values[-1] == 10
    assert values[start] == 1.37 and len(values) <= limits.MORPH_STEPS_MAX
    few, _ = value_grid(choose("star_relu"), "bias", steps=500)
    assert len(few) == limits.MORPH_STEPS_MAX
    elu, _ = value_grid(choose("elu"), "alpha", steps=61)
    assert np.allclose(elu, np.arange(61) * 0.05)  # every slider step when they fit
    # hardtanh's min_val must stay below max_val = 1: values at or above it are left out.
    ht, _ = value_grid(choose("hardtanh"), "min_val")
    assert ht.max() < 1.0 and ht.min() == -10.0


def test_every_frame_is_the_curve_at_that_value():
    m = compute_morph(choose("swish"), "beta", -4, 4, points=201)
    assert m.y.shape == m.dy.shape == m.d2y.shape == (len(m.values), 201)
    for k in (0, m.start, len(m.values) - 1):
        b = m.values[k]
        s = expit(b * m.x)
        np.testing.assert_allclose(m.y[k], m.x * s, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(m.dy[k], s + b * m.x * s * (1 - s), rtol=1e-10, atol=1e-14)
        curve = curves.compute_curve(choose("swish", {"beta": float(b)}), -4, 4, 201)
        np.testing.assert_array_equal(m.d2y[k], curve.d2y)
    relu6 = compute_morph(choose("elu"), "alpha", -1, 1, points=201)  # undefined points stay undefined
    assert np.isnan(relu6.dy[relu6.values != 1.0][:, 100]).sum() == 0
    assert np.isnan(relu6.d2y[:, 100]).sum() >= len(relu6.values) - 1


def test_morph_refuses_custom_formulas_and_bad_ranges():
    with pytest.raises(InputError, match="catalogue"):
        compute_morph(custom("x * sigmoid(b * x)", {"b": 1.0}), "b", -5, 5)
    with pytest.raises(InputError, match="x-range"):
        compute_morph(choose("swish"), "beta", 5, -5)
    with pytest.raises(InputError, match="no parameter"):
        compute_morph(choose("swish"), "gamma", -5, 5)


@pytest.mark.parametrize("show_d2", [False, True])
def test_morph_figure_carries_every_frame_with_a_redraw_free_slider(show_d2):
    m = compute_morph(choose("swish", {"beta": 2.0}), "beta", -5, 5)
    fig = morph_figure(m, show_d2)
    n_traces = 3 if show_d2 else 2
    assert len(fig.data) == n_traces and len(fig.frames) == len(m.values)
    np.testing.assert_array_equal(np.asarray(fig.data[0].y), m.y[m.start].astype(np.float32))
    for k, frame in enumerate(fig.frames):
        assert list(frame.traces) == list(range(n_traces))
        np.testing.assert_array_equal(np.asarray(frame.data[1].y), m.dy[k].astype(np.float32))
    (slider,) = fig.layout.sliders
    assert slider.active == m.start and len(slider.steps) == len(m.values)
    step = slider.steps[5]
    assert step.method == "animate" and list(step.args[0]) == [fig.frames[5].name]
    assert step.args[1]["frame"]["redraw"] is False
    assert fig.layout.xaxis.autorange is False and fig.layout.yaxis.autorange is False
    lo, hi = fig.layout.yaxis.range
    assert lo < np.nanmin(m.dy) and hi >= np.nanpercentile(m.y, 99.5)
    play = fig.layout.updatemenus[0].buttons[0]
    assert play.method == "animate" and play.args[1]["frame"]["redraw"] is False
    # float32 typed arrays keep the page light: 51 frames of 401 points in well under a megabyte.
    assert len(fig.to_json()) < 600_000
