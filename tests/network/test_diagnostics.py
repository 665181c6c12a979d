"""actviz.diagnostics: the physics of gradient flow, checked against networks built here with plain torch."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from actviz import cli
from actviz.activations.choice import choose, custom
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import diagnostics, models
from actviz.network.histograms import (
    MAX_OCTAVES,
    linear_histogram,
    linear_histograms,
    log_abs_histogram,
    octave_histograms,
)
from actviz.network.symmetry import zero_init_symmetry

SEED = 42


@pytest.fixture(scope="module")
def digits():
    return datasets.load(datasets.DatasetSpec("digits"))


@pytest.fixture(scope="module")
def moons():
    return datasets.load(datasets.DatasetSpec("moons"))


def plain_net(sizes, act: nn.Module, seed: int, bias: float | None = None, zero: bool = False) -> nn.Sequential:
    """The textbook way: torch.manual_seed, then nn.Linear layers with an activation module in between."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        if zero:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        if bias is not None:
            nn.init.constant_(lin.bias, bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(act)
    return nn.Sequential(*layers)


def plain_grads(net: nn.Sequential, x, y) -> list[torch.Tensor]:
    net.zero_grad()
    logits = net(x)
    loss = F.binary_cross_entropy_with_logits(logits[:, 0], y.float()) if logits.shape[1] == 1 \
        else F.cross_entropy(logits, y)
    loss.backward()
    return [m.weight.grad.clone() for m in net if isinstance(m, nn.Linear)]


def batch(ds, n=256, seed=SEED):
    return diagnostics.seeded_batch(ds.x_train, ds.y_train, n, seed)


# --- gradient statistics are the real .grad -------------------------------------------------------

def test_gradient_stats_equal_the_plain_torch_grads(digits):
    x, y = batch(digits)
    sizes = (64, 512, 256, 256, 128, 10)
    grads = plain_grads(plain_net(sizes, nn.Tanh(), SEED), x, y)
    report = diagnostics.gradient_report(models.build_mlp(64, sizes[1:-1], 10, choose("tanh"), seed=SEED), x, y)
    assert [layer.name for layer in report.layers] == ["L1 64→512", "L2 512→256", "L3 256→256", "L4 256→128",
                                                       "L5 128→10"]
    for layer, g in zip(report.layers, grads):
        assert layer.grad_norm == pytest.approx(torch.linalg.vector_norm(g).item(), rel=1e-5)
        assert layer.grad_mean_abs == pytest.approx(g.abs().mean().item(), rel=1e-5)
        assert layer.grad_std == pytest.approx(g.std(correction=0).item(), rel=1e-4)
        assert layer.shape == tuple(g.shape)
        # the histogram accounts for every entry, each in its right-closed octave (2^k, 2^(k+1)]
        h = layer.hist
        assert sum(h.counts) + h.zeros == g.numel()
        edges = np.asarray(h.edges)
        assert np.allclose(edges[1:] / edges[:-1], 2.0)
        a = g.abs().flatten().double().numpy()
        nz = a[a > 0]
        idx = np.clip(np.searchsorted(edges, nz, side="left") - 1, 0, len(h.counts) - 1)
        assert np.bincount(idx, minlength=len(h.counts)).tolist() == h.counts


def test_the_report_is_not_the_weights(moons):
    """The NNDL lab printed the weights instead of their gradients; ours must be the gradients."""
    x, y = moons.x_train, moons.y_train
    model = models.build_mlp(2, (3, 3, 3, 3), 1, choose("sigmoid"), seed=1)
    report = diagnostics.gradient_report(model, x, y)
    for layer, lin in zip(report.layers, model.linears):
        assert layer.grad_norm == pytest.approx(lin.weight.grad.norm().item(), rel=1e-5)
        assert layer.grad_norm != pytest.approx(lin.weight.norm().item(), rel=0.1)


# --- the lessons ------------------------------------------------------------------------------------

def test_deep_sigmoid_gradients_vanish_towards_the_input_but_relu_ones_do_not(digits):
    """digits, 64-512-256-256-128-10, PyTorch default init, one batch of 256 (the UvA tutorial's experiment)."""
    x, y = batch(digits)
    sizes = (64, 512, 256, 256, 128, 10)
    for act, name in ((nn.Sigmoid(), "sigmoid"), (nn.ReLU(), "relu")):
        grads = plain_grads(plain_net(sizes, act, SEED), x, y)
        ratio = (grads[0].norm() / grads[-1].norm()).item()
        report = diagnostics.gradient_report(models.build_mlp(64, sizes[1:-1], 10, choose(name), seed=SEED), x, y)
        assert report.first_to_last() == pytest.approx(ratio, rel=1e-4)
        if name == "sigmoid":
            assert ratio <= 1 / 100, f"sigmoid input layer only {1 / ratio:.0f}x below the output layer"
            norms = report.norms
            assert all(a < b for a, b in zip(norms, norms[1:])), "shrinks layer by layer towards the input"
        else:
            assert 1 / 10 <= ratio <= 10


def test_relu_with_bias_minus_8_has_exactly_zero_hidden_gradients_and_leaky_relu_does_not(moons):
    x, y = moons.x_train, moons.y_train
    sizes = (2, 3, 3, 3, 3, 1)
    relu = plain_grads(plain_net(sizes, nn.ReLU(), 1, bias=-8.0), x, y)
    assert all(torch.count_nonzero(g) == 0 for g in relu)
    firsts = []
    for slope in (0.01, 0.1, 0.3):
        grads = plain_grads(plain_net(sizes, nn.LeakyReLU(slope), 1, bias=-8.0), x, y)
        assert all(torch.count_nonzero(g) == g.numel() for g in grads)
        firsts.append(grads[0].norm().item())
    assert firsts[0] < firsts[1] < firsts[2], "a larger slope lets more gradient through"

    init = models.InitSpec(bias=-8.0)
    r = diagnostics.gradient_report(models.build_mlp(2, sizes[1:-1], 1, choose("relu"), init, seed=1), x, y)
    assert all(layer.grad_norm == 0 and layer.hist.zeros == layer.shape[0] * layer.shape[1] for layer in r.layers)
    assert all(h.zero_fraction == 1.0 and h.saturated_fraction == 1.0 for h in r.hidden)
    leaky = diagnostics.gradient_report(
        models.build_mlp(2, sizes[1:-1], 1, choose("leaky_relu", {"negative_slope": 0.1}), init, seed=1), x, y)
    assert leaky.layers[0].grad_norm == pytest.approx(firsts[1], rel=1e-4)


def test_zero_init_keeps_every_hidden_unit_identical(moons):
    """The NNDL lab: 2-5-1 sigmoid net, weights and biases 0, SGD lr 0.2, full batch."""
    x, y = moons.x_train, moons.y_train
    net = plain_net((2, 5, 1), nn.Sigmoid(), 0, zero=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    for _ in range(100):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(net(x)[:, 0], y.float()).backward()
        opt.step()
    w = net[0].weight.detach()
    assert w.abs().max() > 0, "the weights did move"
    assert torch.allclose(w, w[:1].expand_as(w), rtol=1e-5, atol=0), "all rows (hidden units) identical"

    rep = zero_init_symmetry(moons, (5,), choose("sigmoid"), models.InitSpec("zeros", bias=0.0),
                                         seed=0, steps=100, lr=0.2)
    assert rep.all_identical and rep.train_accuracy == pytest.approx(0.5, abs=0.05)
    assert torch.allclose(torch.tensor(rep.first_weights), w, rtol=1e-4, atol=1e-12)
    rep = zero_init_symmetry(moons, (5,), choose("sigmoid"), models.InitSpec(), seed=0, steps=100)
    assert not rep.all_identical and rep.train_accuracy > 0.7
    const = zero_init_symmetry(moons, (4, 3), choose("tanh"), models.InitSpec("constant", value=0.1),
                                           seed=0, steps=20, lr=0.5, batch_size=64)
    assert const.all_identical and json.dumps(const.to_json(), allow_nan=False)


def test_deep_relu_net_has_dead_units_at_init_and_swish_none(digits):
    """The UvA tutorial: hidden 256x5 + 128x5 at init; dead = exactly 0 for every training sample."""
    hidden = models.parse_hidden("256x5,128x5")
    sizes = (64, *hidden, 10)
    for act, name in ((nn.ReLU(), "relu"), (nn.SiLU(), "swish")):
        net = plain_net(sizes, act, SEED)
        with torch.no_grad():
            h, counts = digits.x_train, []
            for m in net:
                h = m(h)
                if not isinstance(m, nn.Linear):
                    counts.append(int((h == 0).all(dim=0).sum()))
        model = models.build_mlp(64, hidden, 10, choose(name), seed=SEED)
        dead = diagnostics.dead_neurons(model, digits.x_train)
        assert list(dead.counts) == counts
        if name == "relu":
            assert sum(counts[:3]) < sum(counts[5:]), "many more dead units in the deep layers"
            assert max(dead.fractions) > 0.3
        else:
            assert dead.total == 0


def test_dead_neuron_counting_is_exact_whatever_the_chunking(digits):
    model = models.build_mlp(64, (256,) * 6, 10, choose("relu"), seed=3)
    full = diagnostics.dead_neurons(model, digits.x_train, stop_early=False)
    assert diagnostics.dead_neurons(model, digits.x_train, batch_size=100).counts == full.counts
    assert diagnostics.dead_neurons(model, digits.x_train, batch_size=7, stop_early=True).counts == full.counts
    alive = models.build_mlp(64, (32,), 10, choose("swish"), seed=3)
    assert diagnostics.dead_neurons(alive, digits.x_train, batch_size=10).total == 0  # stops after one chunk
    js = full.to_json()
    assert js["dead"] == list(full.counts) and js["units"] == [256] * 6 and js["n_samples"] == len(digits.x_train)
    assert full.total_fraction == pytest.approx(full.total / (256 * 6))


def test_dead_neuron_counting_stops_after_the_first_rows_when_every_unit_fires(digits):
    rows: list[int] = []
    alive = models.build_mlp(64, (32, 32), 10, choose("tanh"), seed=3)
    alive.linears[0].register_forward_hook(lambda _m, inputs, _out: rows.append(inputs[0].shape[0]))
    assert diagnostics.dead_neurons(alive, digits.x_train).total == 0
    assert rows == [diagnostics.DEAD_FIRST_CHUNK] < [len(digits.x_train)]
    # A net with a dead unit reads every row, in growing chunks, and counts exactly what one pass counts.
    rows.clear()
    relu = models.build_mlp(64, (256,) * 6, 10, choose("relu"), seed=3)
    relu.linears[0].register_forward_hook(lambda _m, inputs, _out: rows.append(inputs[0].shape[0]))
    grown = diagnostics.dead_neurons(relu, digits.x_train, batch_size=300)
    assert grown.total > 0 and sum(rows) == len(digits.x_train) and rows[:3] == [256, 300, 300]
    assert grown.counts == diagnostics.dead_neurons(relu, digits.x_train, stop_early=False).counts


def test_activation_statistics_match_a_direct_computation(digits):
    x, y = batch(digits, 128)
    for choice in (choose("sigmoid"), choose("relu"), choose("hardtanh"), custom("x * sigmoid(k * x)", {"k": 3.0})):
        model = models.build_mlp(64, (50, 40), 10, choice, seed=2)
        eps = 0.1
        report = diagnostics.gradient_report(model, x, y, eps=eps)
        with torch.no_grad():
            _, pre, post = model.forward_detailed(x)
        for stats, z, h in zip(report.hidden, pre, post):
            zz = z.detach().requires_grad_(True)
            (d,) = torch.autograd.grad(choice.function()(zz).sum(), zz)
            assert stats.saturated_fraction == pytest.approx((d.abs() < eps).float().mean().item())
            assert stats.zero_fraction == pytest.approx((h == 0).float().mean().item())
            assert stats.mean == pytest.approx(h.mean().item(), abs=1e-6)
            assert stats.std == pytest.approx(h.std(correction=0).item(), rel=1e-4)
            assert sum(stats.hist.counts) == h.numel()
            assert stats.hist.edges[0] == pytest.approx(h.min().item()) and \
                stats.hist.edges[-1] == pytest.approx(h.max().item())
        dead = diagnostics.dead_neurons(model, x, eps=eps)  # the whole-set saturated share, same definition
        assert list(dead.saturated_fraction) == pytest.approx([h.saturated_fraction for h in report.hidden])


def test_compare_at_init_uses_the_same_batch_and_weights_for_every_activation(digits):
    # LeakyReLU with slope 0 is ReLU: identical numbers prove identical weights and batch.
    choices = [choose("relu"), choose("leaky_relu", {"negative_slope": 0.0}), custom("x * sigmoid(x)"),
               choose("silu"), choose("prelu", {"init": 0.2}, ["init"])]
    comp = diagnostics.compare_at_init(digits, (32, 32), choices, seed=5, batch_size=100)
    a, b, c, d = comp.reports[:4]
    assert a.norms == b.norms and comp.dead[0].counts == comp.dead[1].counts
    assert c.norms == pytest.approx(d.norms, rel=1e-5)
    assert comp.sizes == (64, 32, 32, 10) and comp.batch_size == 100 and comp.train_samples == len(digits.x_train)
    again = diagnostics.compare_at_init(digits, (32, 32), choices[:1], seed=5, batch_size=100)
    assert again.reports[0].norms == a.norms
    data = json.loads(json.dumps(comp.to_json(), allow_nan=False))
    assert len(data["runs"]) == 5 and data["runs"][0]["neurons"]["dead"] == list(comp.dead[0].counts)
    whole = diagnostics.compare_at_init(digits, (8,), choices[:1], batch_size=60000, dead=False)
    assert whole.batch_size == len(digits.x_train) and whole.dead is None


@pytest.mark.parametrize("kwargs, words", [
    ({"choices": []}, "at least one"),
    ({"choices": [choose("relu"), choose("relu")]}, "twice"),
    ({"choices": [choose("relu")] * 13}, "at most"),
    ({"batch_size": 0}, "batch size"),
    ({"eps": float("nan")}, "saturation threshold"),
    ({"eps": 0.9}, "saturation threshold"),
    ({"hidden": (0,)}, "1 to 4096"),
])
def test_compare_at_init_refuses_bad_input(digits, kwargs, words):
    args = {"hidden": (8,), "choices": [choose("relu")], **kwargs}
    with pytest.raises(InputError, match=words):
        diagnostics.compare_at_init(digits, args.pop("hidden"), args.pop("choices"), **args)


def test_overflowing_gradients_are_reported_not_crashed():
    model = models.build_mlp(3, (4,), 2, choose("relu"), seed=0)
    with torch.no_grad():
        model.linears[0].weight.fill_(1e38)
        model.linears[1].weight.fill_(1e38)
    with pytest.raises(InputError, match="not finite|overflowed"):
        diagnostics.gradient_report(model, torch.ones(5, 3) * 1e3, torch.zeros(5, dtype=torch.long))


def test_histogram_helpers():
    h = log_abs_histogram(torch.tensor([0.0, -0.0, 1e-3, 2e-3, -0.5, 1.0, 3.0, 2.0, -4.0]))
    assert h.zeros == 2 and sum(h.counts) == 7
    assert h.edges[-1] == 4.0 and h.counts[-1] == 2  # 3 and |-4| in (2, 4]
    assert h.counts[-2] == 1 and h.counts[-3] == 1  # 2.0 in (1, 2]; 1.0 in (0.5, 1]
    assert log_abs_histogram(torch.zeros(5)).zeros == 5
    wide = log_abs_histogram(torch.tensor([1e-40, 1.0]))
    assert len(wide.counts) <= MAX_OCTAVES and sum(wide.counts) == 2
    lin = linear_histogram(torch.tensor([0.0, 1, 2, 3, 4, 10]), 5)
    assert lin.edges == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0] and lin.counts == [2, 2, 1, 0, 1]
    flat = linear_histogram(torch.full((7,), 0.5))
    assert sum(flat.counts) == 7 and flat.edges[0] < 0.5 < flat.edges[-1]



def test_histograms_of_several_tensors_at_once_equal_one_at_a_time():
    """The batched histograms (sub-counters per bin, one .tolist()) count exactly as a plain per-bin count."""
    gen = torch.Generator().manual_seed(3)
    parts = [torch.randn(5000, generator=gen) * 1e-3, torch.tensor([0.0, -0.0, 0.25, 0.5, -1.0, 3.0, 2.0**-30]),
             torch.zeros(4), torch.randn(777, generator=gen).relu()]
    bits = torch.cat([p.view(torch.int32) & 0x7FFFFFFF for p in parts])
    for p, h in zip(parts, octave_histograms(bits, [p.numel() for p in parts])):
        a = p.abs().double().numpy()
        nz = a[a > 0]
        assert h.zeros == int((a == 0).sum())
        if nz.size:  # right-closed octaves (2^k, 2^(k+1)], counted independently with numpy
            expected = np.bincount((np.ceil(np.log2(nz)) - np.log2(h.edges[0]) - 1).astype(int))
            assert h.counts == expected.tolist()
    values = [torch.randn(3000, generator=gen), torch.tensor([0.0, 1, 2, 3, 4, 10]), torch.arange(41.0)]
    for v, h in zip(values, linear_histograms(values, 40)):
        lo, hi = float(v.min()), float(v.max())
        idx = np.minimum(((v.numpy() - np.float32(lo)) * np.float32(40 / (hi - lo))).astype(int), 39)
        assert h.counts == np.bincount(idx, minlength=40).tolist() and h.edges[0] == lo and h.edges[-1] == hi
    assert linear_histograms([torch.arange(41.0)], 40)[0].counts == [1] * 39 + [2]


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "silu", "swish", "mish", "hardsigmoid", "identity",
                                  "rrelu", "swiglu"])
def test_slopes_read_off_the_forward_graph_are_the_recomputed_derivatives(name):
    """Slopes taken from the forward pass's graph (a one-op act's node called directly, or autograd through
    a composite act) are bit for bit those of autograd through the act recomputed alone; gated units and
    RReLU in training mode (random slopes) take that recomputed path themselves."""
    model = models.build_mlp(6, (9, 7), 3, choose(name), seed=1)
    model.eval()  # RReLU: the forward pass is then the element-wise act whose slopes are reported
    x = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
    _, pre, post = model.forward_detailed(x)
    slopes = diagnostics._slopes(model.acts, pre, post)
    expected = diagnostics.derivatives(model.acts, pre)
    assert all(torch.equal(s, e) for s, e in zip(slopes, expected))
    for s in slopes:  # the caller overwrites its slopes: that must not change what the graph gives next time
        s.abs_()
    assert all(torch.equal(s, e) for s, e in zip(diagnostics._slopes(model.acts, pre, post), expected))


def test_negative_zero_outputs_count_as_zero():
    """0 * x is -0.0 for negative x: every output is zero (the count reads float bits, so this matters)."""
    x, y = torch.randn(30, 4, generator=torch.Generator().manual_seed(1)), torch.randint(2, (30,))
    model = models.build_mlp(4, (8,), 2, custom("0*x", {}), seed=0)
    _, _, post = model.forward_detailed(x)
    assert bool((torch.signbit(post[0]) & (post[0] == 0)).any())  # some -0.0 really is there
    assert diagnostics.gradient_report(model, x, y).hidden[0].zero_fraction == 1.0

# --- CLI --------------------------------------------------------------------------------------------

def test_cli_gradients_json(capsys):
    code = cli.main(["gradients", "--activation", "sigmoid", "--hidden", "512,256,256,128", "--dataset", "digits",
                     "--batch-size", "256", "--seed", "42", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [layer["name"] for layer in data["layers"]][0] == "L1 64→512"
    for layer in data["layers"]:
        assert set(layer) >= {"name", "grad_norm", "grad_mean_abs", "grad_std", "hist"}
        assert set(layer["hist"]) >= {"edges", "counts"}
        assert len(layer["hist"]["edges"]) == len(layer["hist"]["counts"]) + 1
    assert len(data["activations"]) == 4 and "saturated_fraction" in data["activations"][0]
    assert data["layers"][0]["grad_norm"] * 100 < data["layers"][-1]["grad_norm"]


def test_cli_gradients_custom_expression_and_bias(capsys):
    assert cli.main(["gradients", "--expr", "max(x, 0)", "--hidden", "3,3,3,3", "--dataset", "moons",
                     "--bias-init", "-8", "--seed", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert all(layer["grad_norm"] == 0 for layer in data["layers"])
    assert data["activation"]["expression"] == "max(x, 0)"


def test_cli_neurons_json(capsys):
    assert cli.main(["neurons", "--activation", "relu", "--hidden", "256x5,128x5", "--dataset", "digits",
                     "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["dead"]) == 10 and sum(data["dead"]) > 0
    assert len(data["dead_fraction"]) == 10 and len(data["saturated_fraction"]) == 10
    assert all(0 <= f <= 1 for f in data["dead_fraction"] + data["saturated_fraction"])
    assert cli.main(["neurons", "--activation", "swish", "--hidden", "256x5,128x5", "--json"]) == 0
    assert sum(json.loads(capsys.readouterr().out)["dead"]) == 0
    assert cli.main(["neurons", "--activation", "relu", "--hidden", "32"]) == 0
    assert "dead" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["gradients", "--activation", "nope"], "unknown activation"),
    (["gradients"], "--activation"),
    (["gradients", "--activation", "relu", "--expr", "x"], "not both"),
    (["gradients", "--activation", "relu", "--hidden", "1x30"], "at most 20"),
    (["gradients", "--activation", "relu", "--init", "normal", "--init-std", "nan"], "finite"),
    (["gradients", "--activation", "relu", "--batch-size", "0"], "batch size"),
    (["gradients", "--activation", "relu", "--dataset", "mnist", "--data-dir", "/nonexistent"], "MNIST"),
    (["gradients", "--activation", "leaky_relu", "--param", "negative_slope=7"], "out of range"),
    (["neurons", "--activation", "relu", "--hidden", ""], "without hidden"),
    (["neurons", "--activation", "relu", "--eps", "-1"], "saturation threshold"),
    (["gradients", "--activation", "relu", "--seed", "abc"], "invalid int"),
])
def test_cli_bad_input_exits_2_with_one_line(capsys, argv, words):
    with pytest.raises(SystemExit) if "abc" in argv else _nullcontext():
        code = cli.main(argv)
        assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("actviz: error:") and err.count("\n") == 1 and words in err
    assert "Traceback" not in err


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.slow
def test_bench_sections_report_ratios():
    from bench import diagnostics as bench_diagnostics

    sec = bench_diagnostics.bench_diagnostics(quick=True)
    assert sec["unit"] == "ratio" and sec["target"] == 1.5 and math.isfinite(sec["value"]) and sec["value"] > 1
    assert set(sec["per_activation"]) == {"relu", "sigmoid", "swish"}


def test_gated_units_compared_with_element_wise_ones_say_so_in_the_layer_names(digits):
    choices = [choose("relu"), choose("swiglu"), choose("reglu")]
    comp = diagnostics.compare_at_init(digits, (32, 16), choices, seed=5, batch_size=100)
    assert comp.layer_names == ["L1 64→32 (2×32 gated)", "L2 32→16 (2×16 gated)", "L3 16→10"]
    swiglu = comp.reports[1]
    assert [layer.shape for layer in swiglu.layers] == [(64, 64), (32, 32), (10, 16)]  # both projections
    assert [h.units for h in swiglu.hidden] == [32, 16]
    gated_only = diagnostics.compare_at_init(digits, (32,), choices[1:], seed=5, batch_size=100)
    assert gated_only.layer_names == ["L1 64→2×32 gated", "L2 32→10"]
    # Saturation is judged on the gate act(a) alone: |SiLU'(a)| < eps over the layer's gate inputs a.
    model = models.build_mlp(64, (32, 16), 10, choose("swiglu"), seed=5)
    xb, _ = diagnostics.seeded_batch(digits.x_train, digits.y_train, 100, 5)
    _, pre, _ = model.forward_detailed(xb)
    a = pre[0].detach().requires_grad_(True)
    (d,) = torch.autograd.grad(F.silu(a).sum(), a)
    assert swiglu.hidden[0].saturated_fraction == pytest.approx(float((d.abs() < comp.reports[1].eps).float().mean()))
