"""actviz.models: init schemes, seeding, hidden-size parsing, losses, forward passes."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from actviz import activations
from actviz.activations.choice import choose, custom
from actviz.errors import InputError
from actviz.network import models

SIZES = (7, (16, 12), 3)


def _weights(model: models.MLP) -> list[torch.Tensor]:
    return [t.detach().clone() for lin in model.linears for t in (lin.weight, lin.bias)]


# --- InitSpec -------------------------------------------------------------------------------------

def test_init_spec_defaults_keys_and_round_trip():
    assert models.InitSpec().key() == "default"
    assert models.InitSpec("normal", std=0.5).key() == "normal(std=0.5)"
    assert models.InitSpec("uniform", low=-0.1, high=0.2, bias=-8).key() == "uniform(a=-0.1,b=0.2)|bias=-8.0"
    assert models.InitSpec(" Xavier_Uniform ").name == "xavier_uniform"
    spec = models.InitSpec("constant", value=0.3, bias=0.0)
    assert models.InitSpec.from_dict(json.loads(json.dumps(spec.as_dict()))) == spec
    assert "bias 0" in spec.label and "Constant" in spec.label


@pytest.mark.parametrize("kwargs, words", [
    ({"name": "glorot"}, "unknown weight init"),
    ({"name": "normal", "std": float("nan")}, "finite"),
    ({"name": "normal", "std": 0.0}, "above 0"),
    ({"name": "normal", "std": -1.0}, "between"),
    ({"name": "normal", "std": 1e9}, "between"),
    ({"name": "uniform", "low": 1.0, "high": 1.0}, "a < b"),
    ({"name": "constant", "value": float("inf")}, "finite"),
    ({"bias": float("-inf")}, "finite"),
    ({"bias": 1e6}, "between"),
    ({"bias": "abc"}, "number"),
    ({"bias": True}, "number"),
])
def test_init_spec_refuses_bad_values(kwargs, words):
    with pytest.raises(InputError, match=words):
        models.InitSpec(**kwargs)


# --- hidden sizes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("512,256,256,128", (512, 256, 256, 128)),
    ("256x5,128x5", (256,) * 5 + (128,) * 5),
    (" 64 , 32 ,", (64, 32)),
    ("256×2; 3*2", (256, 256, 3, 3)),
    ("", ()),
    ("  ", ()),
    ("4096", (4096,)),
    ("1x20", (1,) * 20),
])
def test_parse_hidden_accepts(text, expected):
    assert models.parse_hidden(text) == expected


@pytest.mark.parametrize("text, words", [
    ("abc", "cannot read"),
    ("0", "1 to 4096"),
    ("4097", "1 to 4096"),
    ("-3", "cannot read"),
    ("1x21", "at most 20"),
    (",".join(["8"] * 21), "at most 20"),
    ("8x0", "0 times"),
    ("1.5", "cannot read"),
    ("9" * 500, "too long"),
])
def test_parse_hidden_refuses(text, words):
    with pytest.raises(InputError, match=words):
        models.parse_hidden(text)


def test_check_hidden_and_format_hidden():
    assert models.check_hidden([3, 4]) == (3, 4)
    for bad in ([0], [True], ["8"], "8,8", [5000]):
        with pytest.raises(InputError):
            models.check_hidden(bad)
    for sizes in [(), (5,), (512, 256, 256, 128), (256,) * 5 + (128,) * 5, (3, 3, 7, 7, 7)]:
        assert models.parse_hidden(models.format_hidden(sizes)) == sizes
    assert models.format_hidden((256,) * 5 + (128,) * 5) == "256x5,128x5"


# --- outputs and losses -----------------------------------------------------------------------------

def test_output_size_loss_and_predict_are_consistent():
    assert models.output_size(2) == 1 and models.output_size(10) == 10
    with pytest.raises(InputError):
        models.output_size(1)
    torch.manual_seed(0)
    logits = torch.randn(32, 1)
    y = torch.randint(2, (32,))
    p = torch.sigmoid(logits[:, 0])
    expected = F.binary_cross_entropy(p, y.float())  # the NNDL lab's sigmoid output + BCE
    assert torch.allclose(models.loss_fn(logits, y), expected, atol=1e-6)
    assert torch.equal(models.predict(logits), (p > 0.5).long())
    logits = torch.randn(32, 4)
    y = torch.randint(4, (32,))
    assert torch.allclose(models.loss_fn(logits, y), F.cross_entropy(logits, y))
    assert torch.equal(models.predict(logits), logits.argmax(1))


# --- building and seeding ---------------------------------------------------------------------------

def test_default_init_equals_plain_torch_linear_layers_and_leaves_global_rng_alone():
    seed = 42
    torch.manual_seed(seed)
    plain = [nn.Linear(7, 16), nn.Linear(16, 12), nn.Linear(12, 3)]
    before = torch.get_rng_state()
    model = models.build_mlp(*SIZES, choose("relu"), models.InitSpec(), seed)
    assert torch.equal(torch.get_rng_state(), before), "building a model must not draw from the global RNG"
    for ours, theirs in zip(model.linears, plain):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)


@pytest.mark.parametrize("init", [models.InitSpec(n) for n in models.INIT_NAMES if n != "normal"]
                         + [models.InitSpec("normal", std=0.3), models.InitSpec("uniform", low=-2, high=0.5),
                            models.InitSpec("kaiming_normal", bias=0.1)])
def test_same_seed_gives_bit_identical_weights_for_every_activation(init):
    # Every element-wise activation shares weights; gated units share theirs (twice as many per hidden
    # layer); SIREN's sine brings its own init under "default" (tested below).
    siren = init.name == "default"
    choices = [choose(n) for n in activations.names(activations.ELEMENTWISE) if not (siren and n == "sine")]
    choices += [choose("prelu", learnable=["init"]), choose("swish", {"beta": 2.0}, ["beta"]),
                custom("x * tanh(a * x)", {"a": 0.5}), choose("rational", learnable=["a0", "b2"])]
    for group in (choices, [choose(n) for n in activations.names(activations.GATED)]):
        reference = _weights(models.build_mlp(*SIZES, group[0], init, seed=7))
        for c in group[1:]:
            other = _weights(models.build_mlp(*SIZES, c, init, seed=7))
            assert len(other) == len(reference)
            assert all(torch.equal(a, b) for a, b in zip(reference, other, strict=True)), c.label
    choices = [choose("relu")]
    reference = _weights(models.build_mlp(*SIZES, choices[0], init, seed=7))
    if init.name not in ("zeros", "constant"):
        different = _weights(models.build_mlp(*SIZES, choices[0], init, seed=8))
        assert not torch.equal(reference[0], different[0])


def test_a_constant_bias_leaves_the_weights_of_the_scheme_unchanged():
    plain = models.build_mlp(*SIZES, choose("relu"), models.InitSpec(), seed=3)
    shifted = models.build_mlp(*SIZES, choose("relu"), models.InitSpec(bias=-8.0), seed=3)
    for a, b in zip(plain.linears, shifted.linears):
        assert torch.equal(a.weight, b.weight)
        assert torch.all(b.bias == -8.0)


def test_init_schemes_have_the_documented_distributions():
    big = (400, (300,), 2)

    def first(init):
        return models.build_mlp(*big, choose("tanh"), init, seed=0).linears[0]

    lin = first(models.InitSpec("normal", std=0.5))
    assert lin.weight.std().item() == pytest.approx(0.5, rel=0.02) and torch.all(lin.bias == 0)
    lin = first(models.InitSpec("uniform", low=-0.2, high=0.6))
    assert -0.2 <= lin.weight.min().item() < -0.19 and 0.59 < lin.weight.max().item() <= 0.6
    lin = first(models.InitSpec("zeros"))
    assert torch.all(lin.weight == 0) and torch.all(lin.bias == 0)
    lin = first(models.InitSpec("constant", value=0.25))
    assert torch.all(lin.weight == 0.25) and torch.all(lin.bias == 0)
    lin = first(models.InitSpec("xavier_uniform"))
    bound = math.sqrt(6 / (400 + 300))
    assert lin.weight.abs().max().item() <= bound and lin.weight.abs().max().item() > 0.98 * bound
    lin = first(models.InitSpec("kaiming_uniform"))  # ReLU gain sqrt(2), whatever the activation (tanh here)
    bound = math.sqrt(2) * math.sqrt(3 / 400)
    assert lin.weight.abs().max().item() <= bound and lin.weight.abs().max().item() > 0.98 * bound
    lin = first(models.InitSpec("kaiming_normal"))
    assert lin.weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    lin = first(models.InitSpec("default"))
    assert lin.bias.abs().max().item() <= 1 / math.sqrt(400) and lin.bias.abs().max().item() > 0


@pytest.mark.parametrize("args, words", [
    ((0, (4,), 2), "number of inputs"),
    ((3, (4,), 0), "number of outputs"),
    ((3, (0,), 2), "1 to 4096"),
])
def test_build_mlp_refuses_bad_sizes(args, words):
    with pytest.raises(InputError, match=words):
        models.build_mlp(*args, choose("relu"))
    with pytest.raises(InputError, match="seed"):
        models.build_mlp(3, (4,), 2, choose("relu"), seed=-1)


# --- forward passes ---------------------------------------------------------------------------------

def test_forward_matches_a_plain_torch_network_and_forward_detailed():
    model = models.build_mlp(*SIZES, choose("elu", {"alpha": 0.5}), seed=1)
    plain = nn.Sequential(nn.Linear(7, 16), nn.ELU(0.5), nn.Linear(16, 12), nn.ELU(0.5), nn.Linear(12, 3))
    plain.load_state_dict({f"{i}.{k}": v for i, lin in zip((0, 2, 4), model.linears)
                           for k, v in lin.state_dict().items()})
    x = torch.randn(9, 7)
    logits, pre, post = model.forward_detailed(x)
    assert torch.allclose(model(x), plain(x), atol=1e-6)
    assert torch.equal(logits, model(x))
    assert [p.shape[1] for p in pre] == [16, 12] and len(post) == 2
    assert torch.allclose(pre[0], plain[0](x)) and torch.allclose(post[0], F.elu(pre[0], 0.5))
    assert model.layer_names() == ["L1 7→16", "L2 16→12", "L3 12→3"]


def test_a_gated_activation_makes_every_hidden_layer_a_gated_projection():
    model = models.build_mlp(7, (16, 12), 3, choose("swiglu", {"beta": 1.5}), seed=0)
    assert [(lin.in_features, lin.out_features) for lin in model.linears] == [(7, 32), (16, 24), (12, 3)]
    assert model.gated and model.layer_names() == ["L1 7→2×16 gated", "L2 16→2×12 gated", "L3 12→3"]
    x = torch.randn(9, 7)
    h = x
    for lin in model.linears[:-1]:  # by hand: a = first half of the projection, b = second half
        z = lin(h)
        a, b = z[:, : z.shape[1] // 2], z[:, z.shape[1] // 2:]
        h = a * torch.sigmoid(1.5 * a) * b
    assert torch.allclose(model(x), model.linears[-1](h), atol=1e-6)
    logits, pre, post = model.forward_detailed(x)
    assert [p.shape[1] for p in pre] == [16, 12] and [p.shape[1] for p in post] == [16, 12]
    assert torch.allclose(pre[0], model.linears[0](x)[:, :16])  # the gate's input a
    assert torch.allclose(model.acts[0].elementwise(pre[0]), F.silu(1.5 * pre[0]) / 1.5, atol=1e-6)
    glu = models.build_mlp(7, (16,), 3, choose("glu"), seed=0)
    z = glu.linears[0](x)
    assert torch.allclose(glu.acts[0](z), F.glu(torch.cat([z[:, 16:], z[:, :16]], 1), dim=1), atol=1e-6)


def test_sine_starts_from_sirens_initialisation_under_the_default_init():
    model = models.build_mlp(50, (40, 30), 3, choose("sine", {"w0": 30.0}), seed=0)
    first, second, out = (lin.weight.detach() for lin in model.linears)
    assert first.abs().max() <= 1 / 50 and first.abs().max() > 0.9 / 50
    bound = math.sqrt(6 / 40) / 30
    assert second.abs().max() <= bound and second.abs().max() > 0.9 * bound
    assert out.abs().max() > bound  # the output layer keeps PyTorch's default
    again = models.build_mlp(50, (40, 30), 3, choose("sine", {"w0": 30.0}), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(_weights(model), _weights(again)))
    xavier = models.build_mlp(50, (40, 30), 3, choose("sine", {"w0": 30.0}), models.InitSpec("xavier_uniform"), 0)
    relu = models.build_mlp(50, (40, 30), 3, choose("relu"), models.InitSpec("xavier_uniform"), 0)
    assert all(torch.equal(a, b) for a, b in zip(_weights(xavier), _weights(relu)))  # an explicit init wins


def test_rrelu_is_random_in_training_and_its_mean_slope_in_eval():
    model = models.build_mlp(4, (64,), 2, choose("rrelu"), seed=0)
    z = -torch.ones(3, 64)
    model.train()
    slopes = model.acts[0](z).neg()
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3 and slopes.std() > 0.01
    model.eval()
    assert torch.allclose(model.acts[0](z), torch.full_like(z, -(1 / 8 + 1 / 3) / 2))


def test_network_without_hidden_layers_is_a_linear_model():
    model = models.build_mlp(5, (), 4, choose("relu"), seed=0)
    x = torch.randn(3, 5)
    logits, pre, post = model.forward_detailed(x)
    assert len(model.linears) == 1 and len(model.acts) == 0 and pre == [] and post == []
    assert torch.allclose(logits, model.linears[0](x))


def test_learnable_activation_parameters_are_trained_scalars():
    model = models.build_mlp(4, (6, 6), 3, choose("prelu", {"init": 0.1}, ["init"]), seed=0)
    names = [n for n, _ in model.named_parameters()]
    assert "acts.0.init" in names and "acts.1.init" in names
    assert model.acts[0].init.item() == pytest.approx(0.1) and model.acts[0].init.dim() == 0
    x = torch.randn(10, 4)
    models.loss_fn(model(x), torch.randint(3, (10,))).backward()
    assert model.acts[0].init.grad is not None
    swish = models.build_mlp(4, (6,), 3, choose("swish", {"beta": 1.5}, ["beta"]), seed=0)
    assert swish.acts[0].beta.item() == pytest.approx(1.5)
    fixed = models.build_mlp(4, (6,), 3, choose("prelu", {"init": 0.1}), seed=0)
    assert list(fixed.acts[0].parameters()) == []
    assert "PReLU (init=0.1)" in repr(fixed)
    with torch.no_grad():  # the fixed and the learnable slope compute the same function
        assert torch.allclose(fixed.acts[0](x), model.acts[0](x))


def test_config_is_json_and_rebuilds_the_same_architecture():
    init = models.InitSpec("normal", std=0.2, bias=0.0)
    act = custom("x * sigmoid(b * x)", {"b": 2.0})
    model = models.build_mlp(*SIZES, act, init, seed=5)
    cfg = json.loads(json.dumps(model.config()))
    assert cfg["n_in"] == 7 and cfg["hidden"] == [16, 12] and cfg["n_out"] == 3
    assert cfg["activation"]["expression"] == "x * sigmoid(b * x)" and cfg["init"]["std"] == 0.2
    rebuilt = models.build_mlp(cfg["n_in"], cfg["hidden"], cfg["n_out"], act, models.InitSpec.from_dict(cfg["init"]),
                               seed=5)
    assert all(torch.equal(a, b) for a, b in zip(_weights(model), _weights(rebuilt)))
