"""The training lab's network view: every number it draws checked against plain numpy.

The weights are made up (seeded numpy), loaded into the lab's network; each neuron's output over the
grid, the output surface, the dead units, the picked neuron's pre-activation histogram and its f′ are
then recomputed here with numpy's own formulas, and the raster's pixels are checked against the colours
those values map to.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.plots import network_view as plots
from actviz.training.config import TrainConfig
from actviz.views import network_view as nv

SPEC = datasets.DatasetSpec(name="moons", n_samples=400, noise=0.2, seed=3)


def config(acts=("relu", "tanh"), hidden=(5, 3)) -> TrainConfig:
    return TrainConfig(SPEC, tuple(choose(a) for a in acts), hidden=hidden, epochs=2, seed=7)


def made_up_weights(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 1.2, (b, a)), rng.normal(0, 0.5, b)) for a, b in zip(sizes[:-1], sizes[1:])]


def plane(resolution):
    """The grid the view promises: the data's bounding box plus 10 % on each side, rows = y."""
    ds = datasets.load(SPEC)
    pts = np.concatenate([ds.x_train.numpy(), ds.x_val.numpy(), ds.x_test.numpy()]).astype(np.float64)
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.1 * (hi - lo)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)  # rows = y
    return np.stack([gx.ravel(), gy.ravel()], 1), (xs, ys)


NUMPY_ACTS = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}


def forward(weights, act, x):
    """Hidden outputs (per layer, samples x units) and the logits, by numpy."""
    hidden = []
    h = x
    for w, b in weights[:-1]:
        h = act(h @ w.T + b)
        hidden.append(h)
    w, b = weights[-1]
    return hidden, h @ w.T + b


@pytest.mark.parametrize("run,name", [(0, "relu"), (1, "tanh")])
def test_every_neuron_and_the_output_surface_match_numpy(run, name):
    cfg = config()
    weights = made_up_weights([2, 5, 3, 1], seed=run)
    pic = nv.picture(cfg, run, weights)
    pts, (xs, ys) = plane(nv.GRID)
    hidden, _ = forward(weights, NUMPY_ACTS[name], pts)
    assert pic.extent == pytest.approx((xs[0], xs[-1], ys[0], ys[-1]), rel=1e-6)
    for layer, expected in enumerate(hidden):
        got = pic.hidden[layer]
        assert got.shape == (expected.shape[1], nv.GRID, nv.GRID)
        for unit in range(expected.shape[1]):
            np.testing.assert_allclose(got[unit], expected[:, unit].reshape(nv.GRID, nv.GRID), atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(pic.inputs[0], pts[:, 0].reshape(nv.GRID, nv.GRID), atol=1e-5)
    fine, _ = plane(nv.SURFACE_GRID)
    _, logits = forward(weights, NUMPY_ACTS[name], fine)
    prob = 1 / (1 + np.exp(-logits[:, 0]))
    assert pic.output_kind == "probability"
    np.testing.assert_allclose(pic.output, prob.reshape(nv.SURFACE_GRID, nv.SURFACE_GRID), atol=2e-5)
    for (w, b), (gw, gb) in zip(weights, zip(pic.weights, pic.biases)):
        np.testing.assert_allclose(gw, w, atol=1e-6)
        np.testing.assert_allclose(gb, b, atol=1e-6)


def test_dead_units_are_the_ones_silent_on_every_training_sample():
    cfg = config(acts=("relu",), hidden=(6,))
    w1, b1 = made_up_weights([2, 6, 1], seed=4)[0]
    b1[[1, 4]] = -50.0  # these two can never fire on moons
    weights = [(w1, b1), made_up_weights([6, 1], seed=5)[0]]
    pic = nv.picture(cfg, 0, weights)
    x = datasets.load(SPEC).x_train.numpy().astype(np.float64)
    silent = (np.maximum(x @ w1.T + b1, 0) == 0).all(axis=0)
    assert list(pic.dead[0]) == list(silent) and silent[1] and silent[4]


def test_the_raster_shows_each_neurons_values_pixel_for_pixel():
    cfg = config(acts=("tanh",), hidden=(4,))
    weights = made_up_weights([2, 4, 1], seed=9)
    pic = nv.picture(cfg, 0, weights)
    image, layout = plots.render(pic)
    assert layout.box == nv.GRID  # one pixel per grid point: the check below is exact
    for unit in range(4):
        x0, y0, _, _ = layout.boxes[(1, unit)]
        grid = pic.hidden[0][unit]
        scale = np.abs(grid).max()
        for i, j in ((0, 0), (5, 30), (39, 39), (20, 7)):  # (column, row from the top)
            value = grid[nv.GRID - 1 - j, i] / scale
            assert tuple(image[y0 + j, x0 + i]) == tuple(plots.diverging(np.array([value]))[0])
    # diverging: blue for +1, orange for -1, near-white for 0
    assert tuple(plots.diverging(np.array([1.0, -1.0, 0.0]))[0]) == (8, 119, 189)
    assert tuple(plots.diverging(np.array([-1.0]))[0]) == (245, 147, 34)


def test_edges_take_the_weights_sign_colour_and_grow_with_their_size():
    cfg = config(acts=("relu",), hidden=(1,))
    weights = [(np.array([[2.0, -0.5]]), np.array([0.1])), (np.array([[1.0]]), np.array([0.0]))]
    pic = nv.picture(cfg, 0, weights)
    image, layout = plots.render(pic)
    src_pos, src_neg = layout.boxes[(0, 0)], layout.boxes[(0, 1)]
    dst = layout.boxes[(1, 0)]

    def colour_at_midpoint(src):
        """The most saturated pixel within 3 px of the edge's midpoint (the line is a few px wide)."""
        a = (src[2], (src[1] + src[3]) / 2)
        b = (dst[0], (dst[1] + dst[3]) / 2)
        x, y = int(round((a[0] + b[0]) / 2)), int(round((a[1] + b[1]) / 2))
        window = image[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3).astype(int)
        return window[np.argmax(window.max(1) - window.min(1))]

    r, g, b = colour_at_midpoint(src_pos)
    assert b > r + 50  # blue: positive weight
    r, g, b = colour_at_midpoint(src_neg)
    assert r > b + 50  # orange: negative weight
    ref = 2.0
    assert plots.edge_width(2.0, ref) > plots.edge_width(-0.5, ref) > plots.edge_width(0.0, ref)


def test_the_picked_neurons_histogram_and_slope_match_numpy():
    cfg = config(acts=("relu",), hidden=(3,))
    weights = made_up_weights([2, 3, 1], seed=2)
    detail = nv.neuron_detail(cfg, 0, weights, 0, 1)
    x = datasets.load(SPEC).x_train.numpy().astype(np.float64)
    w, b = weights[0]
    z = x @ w[1] + b[1]
    counts, edges = np.histogram(z, bins=len(detail.counts), range=(detail.edges[0], detail.edges[-1]))
    assert detail.counts.sum() == len(z)
    np.testing.assert_array_equal(detail.counts, counts)
    np.testing.assert_allclose(detail.edges, edges)
    # ReLU's slope: 0 left of 0, 1 right of it; the dead region is z < 0, out to the left edge
    assert detail.slope[detail.z < -1e-9].max() == 0 and detail.slope[detail.z > 1e-9].min() == 1
    assert len(detail.dead) == 1 and detail.dead[0][0] == detail.z[0] and detail.dead[0][1] < 0
    assert detail.share_dead == pytest.approx(float((z < 0).mean()), abs=1 / len(z))


def tanh_detail(scale):
    cfg = config(acts=("tanh",), hidden=(2,))
    weights = [(np.array([[scale, 0.0], [0.3, 0.2]]), np.array([0.0, 0.0])), (np.array([[1.0, 1.0]]), np.array([0.0]))]
    return nv.neuron_detail(cfg, 0, weights, 0, 0, eps=0.05)


def test_tanh_is_saturated_only_out_to_the_edges():
    detail = tanh_detail(3.0)
    # |tanh'(z)| = 1 - tanh(z)^2 < 0.05  <=>  |z| > atanh(sqrt(0.95))
    edge = math.atanh(math.sqrt(0.95))
    assert len(detail.saturated) == 2 and detail.dead == ()
    (lo_a, lo_b), (hi_a, hi_b) = detail.saturated
    step = detail.z[1] - detail.z[0]
    assert lo_a == detail.z[0] and abs(lo_b + edge) <= step
    assert hi_b == detail.z[-1] and abs(hi_a - edge) <= step
    x = datasets.load(SPEC).x_train.numpy().astype(np.float64)
    z = 3.0 * x[:, 0]
    expected = float(((z <= lo_b) | (z >= hi_a)).mean())
    assert detail.share_saturated == pytest.approx(expected, abs=1e-9)


def test_far_out_tanh_passes_exactly_no_gradient_in_float32():
    """The network computes in float32, where tanh(z) rounds to ±1 for |z| ≳ 9: its slope is exactly 0
    there, which the view shades as 'no gradient' (and counts the samples that sit there)."""
    import torch

    detail = tanh_detail(8.0)
    # torch's own float32 tanh (numpy's rounds to 1 about one unit of z later): 1 - y² as its backward does
    exact_zero = (1 - torch.tanh(torch.as_tensor(detail.z, dtype=torch.float32)) ** 2 == 0).numpy()
    assert exact_zero.any() and len(detail.dead) == 2
    (lo_a, lo_b), (hi_a, hi_b) = detail.dead
    assert lo_b == pytest.approx(float(detail.z[np.argmin(exact_zero) - 1]))
    x = datasets.load(SPEC).x_train
    data_zero = (1 - torch.tanh(8.0 * x[:, 0]) ** 2 == 0).numpy()
    assert detail.share_dead == pytest.approx(float(data_zero.mean()), abs=2 / len(x))


def test_edge_intervals_ignore_isolated_crossings():
    z = np.linspace(-3, 3, 7)
    assert plots.edge_intervals(z, np.array([0, 0, 0, 1, 0, 0, 0], bool)) == ()
    assert plots.edge_intervals(z, np.array([1, 1, 0, 1, 0, 0, 1], bool)) == ((-3.0, -2.0), (3.0, 3.0))
    assert plots.edge_intervals(z, np.ones(7, bool)) == ((-3.0, 3.0),)


def test_what_has_no_network_view_says_why():
    digits = TrainConfig(datasets.DatasetSpec(name="digits"), (choose("relu"),), hidden=(8,), epochs=1)
    assert "2-D" in nv.unsupported(digits)
    wide = config(hidden=(64,))
    assert "at most" in nv.unsupported(wide)
    assert nv.unsupported(config()) is None


def test_a_trained_models_weights_round_trip_through_the_published_shape():
    from actviz.network import models

    cfg = config(acts=("tanh",), hidden=(4, 2))
    model = models.build_mlp(2, cfg.hidden, 1, cfg.activations[0], cfg.init, seed=11)
    weights = nv.weights_of(model)
    rebuilt = nv.build_model(cfg, 0, [(w.tolist(), b.tolist()) for w, b in weights])
    for a, b in zip(model.state_dict().values(), rebuilt.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())


def test_the_figure_names_every_hidden_neuron_for_hovering_and_picking():
    cfg = config(acts=("relu",), hidden=(3, 2))
    pic = nv.picture(cfg, 0, made_up_weights([2, 3, 2, 1], seed=1), selected=(1, 0))
    fig = plots.network_figure(pic)
    markers = next(t for t in fig.data if (t.meta or {}).get("series") == "neurons")
    assert [list(c) for c in markers.customdata] == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]
    first = markers.text[0]
    lo, hi = pic.hidden[0][0].min(), pic.hidden[0][0].max()
    assert f"{lo:.3g} to {hi:.3g}" in first and "hidden 1 · ReLU, neuron 1" in first
    assert fig.layout.images[0].source.startswith("data:image/png;base64,")


def test_a_gated_layer_draws_its_gate_projection_and_its_outputs():
    """GLU-style units compute act(a)·b from two projections; each hidden square is act(a)·b over the
    plane and its incoming edges are the gate projection a."""
    cfg = config(acts=("swiglu",), hidden=(3,))
    rng = np.random.default_rng(8)
    w1, b1 = rng.normal(0, 1, (6, 2)), rng.normal(0, 0.5, 6)
    weights = [(w1, b1), (rng.normal(0, 1, (1, 3)), rng.normal(0, 0.5, 1))]
    pic = nv.picture(cfg, 0, weights)
    pts, _ = plane(nv.GRID)
    z = pts @ w1.T + b1
    a, b = z[:, :3], z[:, 3:]
    expected = a / (1 + np.exp(-a)) * b  # swish(a) * b
    for unit in range(3):
        np.testing.assert_allclose(pic.hidden[0][unit], expected[:, unit].reshape(nv.GRID, nv.GRID), atol=1e-4)
    np.testing.assert_allclose(pic.weights[0], w1[:3], atol=1e-6)
    plots.render(pic)  # every edge has its box
    detail = nv.neuron_detail(cfg, 0, weights, 0, 2)
    assert detail.counts.sum() == len(datasets.load(SPEC).x_train)


def test_the_slope_figure_shades_dead_grey_and_only_the_rest_of_saturation_orange():
    detail = tanh_detail(8.0)
    fig = plots.neuron_figure(detail)
    grey = [(s.x0, s.x1) for s in fig.layout.shapes if "120,120,120" in s.fillcolor]
    orange = [(s.x0, s.x1) for s in fig.layout.shapes if "245,147,34" in s.fillcolor]
    assert grey == list(detail.dead)
    (d_lo, d_hi), (d2_lo, d2_hi) = detail.dead
    (s_lo, s_hi), (s2_lo, s2_hi) = detail.saturated
    assert orange == [(d_hi, s_hi), (s2_lo, d2_lo)]
    hist = [t for t in fig.data if t.meta["series"] == "pre_hist"][0]
    assert list(hist.y) == list(detail.counts)
    assert "of the samples" in plots.shade_legend(detail)


def test_long_layer_titles_fit_their_column():
    from PIL import Image, ImageDraw

    from actviz.plots import network_view as plot

    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    font = plot._font(11)
    assert plot.fit_text(draw, "ReLU", font, 100) == "ReLU"
    assert plot.fit_text(draw, "PReLU [learned init]", font, draw.textlength("PReLU x", font=font)) == "PReLU"
    cut = plot.fit_text(draw, "Swish (x·σ(βx)) [learned beta]", font, 30)
    assert cut.endswith("…") and draw.textlength(cut, font=font) <= 30 and "Swish".startswith(cut[:-1])
