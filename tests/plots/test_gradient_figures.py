"""Every number the gradient-flow page draws for its presets, checked against an independent computation.

The figures are what the page shows (``build_view``, the same call the page makes).  The reference is
plain torch and numpy written here: a hand-rolled forward/backward through the same initial weights
(the weights come from ``build_mlp``: they are the input, not what is checked), dead units from a forward
pass over the whole training set, histograms from ``np.frexp``/``np.histogram``, the zero-init run as a
plain SGD loop, in float32 as the page and again in float64.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actviz.data import datasets
from actviz.network import models
from actviz.views import gradient_flow as gf
from actviz.views.lessons import GRADIENT_PRESETS
from actviz.views.tables import readable


@pytest.fixture(scope="module")
def no_files(tmp_path_factory):
    """A data directory without MNIST files: the presets run where a fresh clone runs them (digits)."""
    return str(tmp_path_factory.mktemp("empty-data"))


@pytest.fixture(scope="module")
def views(no_files):
    out = {}
    for key, preset in GRADIENT_PRESETS.items():
        state, _ = preset.resolve(no_files)
        out[key] = gf.build_view(state, no_files)
    return out


class Reference:
    """One activation's net on the preset's batch, computed by hand."""

    def __init__(self, view: gf.GradientView, index: int):
        state = view.state
        self.choice = view.choices[index]
        ds = datasets.load(state.dataset_spec())
        self.ds = ds
        n = len(ds.x_train)
        if state.batch_size >= n:
            x, y = ds.x_train, ds.y_train
        else:  # the seeded batch: a permutation drawn with the seed, first batch_size rows
            idx = torch.randperm(n, generator=torch.Generator().manual_seed(state.seed))[:state.batch_size]
            x, y = ds.x_train[idx], ds.y_train[idx]
        hidden = models.parse_hidden(state.hidden)
        n_out = 1 if ds.n_classes == 2 else ds.n_classes
        self.model = models.build_mlp(ds.n_features, hidden, n_out, self.choice, state.init_spec(), state.seed)
        lins, acts = list(self.model.linears), list(self.model.acts)
        h, self.pre, self.post = x, [], []
        for lin, act in zip(lins[:-1], acts):
            z = h @ lin.weight.T + lin.bias
            h = act(z)
            self.pre.append(z)
            self.post.append(h)
        logits = h @ lins[-1].weight.T + lins[-1].bias
        if n_out == 1:
            self.loss = F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
        else:
            self.loss = F.cross_entropy(logits, y)
        self.loss_value = float(self.loss.detach())
        self.grads = [g.detach().double().numpy() for g in torch.autograd.grad(self.loss, [lin.weight for lin in lins])]
        self.slopes = [_slope(act, z) for act, z in zip(acts, self.pre)]
        self.eps = state.eps

    def dead_counts(self) -> list[int]:
        """Units whose output is exactly 0 for every training sample."""
        with torch.no_grad():
            h, out = self.ds.x_train, []
            for lin, act in zip(list(self.model.linears)[:-1], self.model.acts):
                h = act(h @ lin.weight.T + lin.bias)
                out.append(int((h == 0).all(dim=0).sum()))
        return out


def _slope(act, z: torch.Tensor) -> np.ndarray:
    z = z.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(act(z).sum(), z)
    return g.double().numpy()


def _traces(fig, series: str) -> list:
    return [t for t in fig.data if (t.meta or {}).get("series") == series]


def _by_activation(fig, series: str) -> dict:
    return {t.meta["activation"]: t for t in _traces(fig, series)}


@pytest.mark.parametrize("key", list(GRADIENT_PRESETS))
def test_norm_chart_and_summary_table_match_a_hand_computed_backward(views, key):
    view = views[key]
    norms = _by_activation(view.figures["norms"], "grad_norm")
    zeros = _by_activation(view.figures["norms"], "grad_norm_zero")
    table = readable(view.table, gf.SUMMARY_FORMATS)
    for i, c in enumerate(view.choices):
        ref = Reference(view, i)
        expected = [float(np.linalg.norm(g)) for g in ref.grads]
        trace = norms[c.key]
        assert list(trace.customdata) == pytest.approx(expected, rel=1e-4, abs=1e-30)
        # Drawn: the value on the log axis, or a cross on the 'exactly 0' line where the gradient is exactly 0.
        drawn = list(trace.y)
        for j, e in enumerate(expected):
            assert (drawn[j] is None) == (e == 0), (c.key, j)
        if any(e == 0 for e in expected):
            assert list(zeros[c.key].x) == [name for name, e in zip(view.comparison.layer_names, expected) if e == 0]
        row = table.iloc[i]
        assert float(row["loss"]) == pytest.approx(ref.loss_value, abs=1.5e-4)
        assert float(row["‖∇W‖ input layer"]) == pytest.approx(expected[0], rel=2e-3, abs=1e-30)
        assert float(row["‖∇W‖ output layer"]) == pytest.approx(expected[-1], rel=2e-3, abs=1e-30)
        if expected[-1]:
            assert float(row["input / output"]) == pytest.approx(expected[0] / expected[-1], rel=1e-2)
        hidden_units = sum(p.shape[1] for p in ref.pre)
        dead = ref.dead_counts()
        assert row["dead units"] == str(sum(dead))
        assert float(row["dead %"]) == pytest.approx(100 * sum(dead) / hidden_units, abs=0.051)
        sat = np.mean([np.mean(np.abs(s) < ref.eps) for s in ref.slopes])
        assert float(row["saturated %"]) == pytest.approx(100 * sat, abs=0.051)
        zero = np.mean([(p == 0).double().mean().item() for p in ref.post])
        assert float(row["exactly 0 %"]) == pytest.approx(100 * zero, abs=0.051)


@pytest.mark.parametrize("key", list(GRADIENT_PRESETS))
def test_gradient_histograms_match_numpy(views, key):
    view = views[key]
    cells = _traces(view.figures["grad_hist"], "grad_hist")
    for i, c in enumerate(view.choices):
        ref = Reference(view, i)
        for j, g in enumerate(ref.grads):
            cell = next(t for t in cells if t.meta["activation"] == c.key and t.meta["layer"] ==
                        view.comparison.layer_names[j])
            a = np.abs(g.astype(np.float32)).ravel()
            assert cell.meta["zeros"] == int((a == 0).sum())
            if not len(cell.x):
                assert (a == 0).all()
                continue
            edges = np.asarray(cell.x, dtype=np.float64)
            assert np.allclose(np.log2(edges), np.round(np.log2(edges))), "one bin per power of 2"
            # A hand-written matmul rounds differently from nn.Linear's addmm in the last bits (and differently on
            # different CPUs).  That can move a gradient lying on a power of 2 into the next bin (with zero init a
            # whole layer's gradients are one value, so the bins can shift as a block), and a near-zero gradient
            # left by cancellation by several octaves.  So compare the cumulative shares at each edge (octaves
            # are right-closed): a value within a relative 1e-5 of the edge may be on either side, and a handful
            # of the layer's weights may be anywhere.
            nz = a[a > 0].astype(np.float64)
            drawn_cum = np.concatenate([[0.0], np.cumsum(np.asarray(cell.y[:-1], dtype=np.float64))])
            assert len(drawn_cum) == len(edges)
            handful = 100 * 8 / a.size
            for edge, drawn in zip(edges, drawn_cum):
                surely_below = 100 * np.count_nonzero(nz < edge * (1 - 1e-5)) / a.size
                maybe_below = 100 * np.count_nonzero(nz <= edge * (1 + 1e-5)) / a.size
                assert surely_below - handful <= drawn <= maybe_below + handful, (c.key, j, edge)
            assert drawn_cum[-1] == pytest.approx(100 * len(nz) / a.size, abs=1e-6), "every non-zero gradient in a bin"


@pytest.mark.parametrize("key", list(GRADIENT_PRESETS))
def test_activation_and_unit_charts_match_numpy(views, key):
    view = views[key]
    if "act_hist" not in view.figures:
        return
    hists = _traces(view.figures["act_hist"], "act_hist")
    bars = view.figures["neurons"]
    for i, c in enumerate(view.choices):
        ref = Reference(view, i)
        for j, post in enumerate(ref.post):
            trace = next(t for t in hists if t.meta["activation"] == c.key and t.meta["layer"] ==
                         view.comparison.hidden_names[j])
            values = post.detach().double().numpy().ravel()
            edges = np.asarray(trace.x)
            lo, hi = values.min(), values.max()
            if hi == lo:  # one value (a dead ReLU layer: all 0): one unit-wide range around it
                lo, hi = lo - 0.5, hi + 0.5
            assert edges[0] == pytest.approx(lo, abs=1e-6) and edges[-1] == pytest.approx(hi, abs=1e-6)
            counts, _ = np.histogram(values, bins=edges)
            assert list(trace.y[:-1]) == pytest.approx(list(100 * counts / values.size), abs=0.5), (c.key, j)
        sat = _by_activation(bars, "saturated")[c.key]
        zero = _by_activation(bars, "zero")[c.key]
        dead = _by_activation(bars, "dead")[c.key]
        assert list(sat.y) == pytest.approx([100 * np.mean(np.abs(s) < ref.eps) for s in ref.slopes], abs=1e-9)
        assert list(zero.y) == pytest.approx([100 * (p == 0).double().mean().item() for p in ref.post], abs=1e-9)
        assert list(dead.y) == ref.dead_counts(), "a count, on a count axis"
        assert list(dead.meta["sizes"]) == [p.shape[1] for p in ref.pre]


def test_deep_relu_swish_lesson_chart_and_its_explanation(views):
    view = views["deep_relu_swish"]
    lesson = view.figures["dead_zero"]
    dead, zero = _by_activation(lesson, "dead"), _by_activation(lesson, "zero_grad")
    relu, swish = Reference(view, 0), Reference(view, 1)
    assert list(dead["relu()"].y) == relu.dead_counts() and sum(relu.dead_counts()) > 0
    assert list(dead["swish(beta=1.0)"].y) == swish.dead_counts() == [0] * 10
    assert list(dead["swish(beta=1.0)"].text) == ["0"] * 10
    for key, ref in (("relu()", relu), ("swish(beta=1.0)", swish)):
        shares = [100 * float((g.astype(np.float32) == 0).mean()) for g in ref.grads]
        assert list(zero[key].y) == pytest.approx(shares, abs=1e-9)
        assert list(zero[key].text) == ["0" if s == 0 else "<1" if s < 0.5 else f"{s:.0f}" for s in shares]
    assert lesson.layout.yaxis.title.text == "units (count)" and lesson.layout.yaxis.tickformat == "d"

    # The explanation beside the norm chart: the ratio at the input layer and the RMS slopes, recomputed.
    aside = dict(GRADIENT_PRESETS["deep_relu_swish"].asides)["norms"](view.comparison, view.symmetry)
    ratio = np.linalg.norm(relu.grads[0]) / np.linalg.norm(swish.grads[0])
    assert f"{ratio:.0f}× smaller" in aside
    for ref, name in ((relu, "ReLU"), (swish, "Swish")):
        rms = sorted(float(np.sqrt(np.mean(s ** 2))) for s in ref.slopes)[len(ref.slopes) // 2]
        assert f"measured {rms:.2f} for ReLU" in aside if name == "ReLU" else f"and {rms:.2f} for Swish" in aside
    top = max(float((g.astype(np.float32) == 0).mean()) for g in relu.grads)
    assert f"up to {top:.0%} of a ReLU layer's" in aside
    ok, outcome = GRADIENT_PRESETS["deep_relu_swish"].check(view.comparison, view.symmetry)
    assert ok and f"ReLU {relu.dead_counts()}" in outcome


def _plain_sgd(view, dtype: torch.dtype, init: models.InitSpec) -> torch.Tensor:
    """The symmetry run by hand: full-batch plain SGD, returns the first layer's weights."""
    state = view.state
    ds = datasets.load(state.dataset_spec())
    choice = view.choices[0]
    model = models.build_mlp(ds.n_features, models.parse_hidden(state.hidden), 1, choice, init, state.seed).to(dtype)
    x, y = ds.x_train.to(dtype), ds.y_train.to(dtype)
    params = list(model.parameters())
    for _ in range(state.sym_steps):
        h = x
        for lin, act in zip(list(model.linears)[:-1], model.acts):
            h = act(h @ lin.weight.T + lin.bias)
        out = h @ model.linears[-1].weight.T + model.linears[-1].bias
        loss = F.binary_cross_entropy_with_logits(out[:, 0], y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= state.sym_lr * g
    return model.linears[0].weight.detach()


def test_zero_init_heatmaps_draw_exact_zeros_as_zeros(views):
    view = views["zero_init"]
    zero, contrast = _traces(view.figures["symmetry"], "first_weights")
    w32 = _plain_sgd(view, torch.float32, view.state.init_spec())
    w64 = _plain_sgd(view, torch.float64, view.state.init_spec())
    assert np.allclose(np.asarray(zero.meta["raw"]), w32.numpy(), rtol=1e-4, atol=1e-12), "what float32 stores"
    assert float(w32.abs().max()) < 1e-6 and float(w64.abs().max()) < 1e-15, "exactly 0 up to float rounding"
    assert [list(r) for r in zero.z] == [[0.0, 0.0]] * 5 and zero.meta["all_zero"]
    w_default = _plain_sgd(view, torch.float32, models.InitSpec("default"))
    assert np.allclose(np.asarray(contrast.z), w_default.numpy(), rtol=1e-4, atol=1e-6)
    assert [list(r) for r in contrast.text] == [[("0" if v == 0 else f"{v:.2g}") for v in row]
                                                for row in np.asarray(contrast.z).tolist()]
    # The explanation beside the norm chart: the output layer's gradient is rounding of 0, the input's exactly 0.
    ref = Reference(view, 0)
    out_norm = float(np.linalg.norm(ref.grads[-1]))
    assert float(np.linalg.norm(ref.grads[0])) == 0.0 and 0 < out_norm < 1e-6
    aside = dict(GRADIENT_PRESETS["zero_init"].asides)["norms"](view.comparison, view.symmetry)
    assert f"{out_norm:.0e} is float rounding of 0" in aside


def test_check_texts_quote_the_recomputed_numbers(views):
    van = views["vanishing"]
    sig, relu = Reference(van, 0), Reference(van, 1)
    ratio = np.linalg.norm(sig.grads[0]) / np.linalg.norm(sig.grads[-1])
    relu_ratio = np.linalg.norm(relu.grads[0]) / np.linalg.norm(relu.grads[-1])
    ok, text = GRADIENT_PRESETS["vanishing"].check(van.comparison, van.symmetry)
    assert ok and f"sigmoid 1/{1 / ratio:,.0f}" in text and f"ReLU {relu_ratio:.2f}×" in text
    dead = views["dead_relu"]
    firsts = [np.linalg.norm(Reference(dead, i).grads[0]) for i in range(1, 4)]
    ok, text = GRADIENT_PRESETS["dead_relu"].check(dead.comparison, dead.symmetry)
    assert ok and all(f"{v:.1e}" in text for v in firsts)
    assert all(np.linalg.norm(g) == 0 for g in Reference(dead, 0).grads[:-1])
    fashion = views["fashion_init"]
    ok, text = GRADIENT_PRESETS["fashion_init"].check(fashion.comparison, fashion.symmetry)
    sig = Reference(fashion, 0)
    assert ok and f"sigmoid 1/{np.linalg.norm(sig.grads[-1]) / np.linalg.norm(sig.grads[0]):,.0f}" in text
    assert re.search(r"between \d\.\d\d–\d\.\d\d", text) and math.isfinite(float(text.split("between ")[1][:4]))
