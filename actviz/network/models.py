"""Feed-forward networks for the gradient-flow page and the training lab.

- :class:`MLP`: Linear layers with one :class:`ActivationModule` after every hidden layer (none after
  the output layer; the loss applies the sigmoid or softmax).
- :func:`build_mlp` initialises the Linear layers from a ``torch.Generator`` seeded with ``seed``, in
  forward order, weight then bias.  Activation modules draw no random numbers and no init depends on
  the activation (Kaiming always uses the ReLU gain), so the same seed gives bit-identical weights
  for every activation compared, and differences come from the activation alone (as the UvA Deep
  Learning tutorial 3 arranges it).  With
  ``InitSpec()`` (PyTorch's default) the weights equal those of ``torch.manual_seed(seed)`` followed by
  constructing the same ``nn.Linear`` layers in order.  A constant bias overrides the bias *after* the
  default bias was drawn, so changing only the bias leaves the weights unchanged.
- A *gated* activation (GLU, ReGLU, GEGLU, SwiGLU: ``f(a, b) = act(a)·b``) makes every hidden layer a gated
  projection: its Linear layer has twice the units (``n_in -> 2h``, one weight matrix holding both
  projections), the first half ``a`` goes through ``act`` and gates the second half ``b``, and the layer
  passes on ``h`` values.  So ``linears[i]`` still is layer i's one weight (its gradient covers both
  projections); the next layer reads ``h`` inputs.  Gated nets have more weights than element-wise ones
  of the same sizes, so their initial weights cannot match theirs.
- SIREN's sine asks for its own initialisation (``Activation.weight_init == "siren"``): under the
  "default" init the first layer's weights are U(-1/n, 1/n) and later ones U(-sqrt(6/n)/w0, sqrt(6/n)/w0)
  (Sitzmann et al. 2020); biases stay PyTorch's.  Any other init chosen explicitly is used as is.
- Binary tasks use one output unit with BCE-with-logits (a sigmoid output with binary
  cross-entropy, computed stably); more classes use cross-entropy on ``n_classes`` logits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actviz import activations, limits, validate
from actviz.activations.choice import ActivationChoice
from actviz.errors import InputError
from actviz.network import features as features_mod
from actviz.network.perlayer import Choice, PerLayer, layer_choices

INIT_NAMES = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "normal",
              "uniform", "zeros", "constant")
INIT_LABELS = {"default": "PyTorch default", "xavier_uniform": "Xavier uniform", "xavier_normal": "Xavier normal",
               "kaiming_uniform": "Kaiming uniform", "kaiming_normal": "Kaiming normal",
               "normal": "Normal(0, std)", "uniform": "Uniform(a, b)", "zeros": "Zeros", "constant": "Constant"}
INIT_VALUE_LIMIT = limits.INIT_VALUE_LIMIT  # |std|, |a|, |b|, |value|, |bias| above this are refused as absurd
EVAL_CHUNK = 8192


def _finite(value: Any, what: str, lo: float = -INIT_VALUE_LIMIT, hi: float = INIT_VALUE_LIMIT) -> float:
    return validate.number(value, what, lo, hi)


@dataclass(frozen=True)
class InitSpec:
    """How the Linear layers start.  Fields that do not apply to ``name`` are ignored (not in :meth:`key`).

    ``bias`` is a constant for every Linear bias; ``None`` keeps the scheme's own bias (PyTorch's uniform
    bias for ``default``, zero for every other scheme).
    """

    name: str = "default"
    std: float = 1.0     # normal
    low: float = -1.0    # uniform
    high: float = 1.0    # uniform
    value: float = 0.0   # constant
    bias: float | None = None

    def __post_init__(self) -> None:
        put = lambda k, v: object.__setattr__(self, k, v)
        name = self.name.strip().lower() if isinstance(self.name, str) else self.name
        if name not in INIT_NAMES:
            raise InputError(f"unknown weight init {str(name)[:40]!r}; choose one of {', '.join(INIT_NAMES)}")
        put("name", name)
        put("std", _finite(self.std, "the init std", 0.0, INIT_VALUE_LIMIT))
        if self.std <= 0:
            raise InputError("the init std must be above 0 (use the 'zeros' init for all-zero weights)")
        put("low", _finite(self.low, "the uniform init's lower bound a"))
        put("high", _finite(self.high, "the uniform init's upper bound b"))
        if name == "uniform" and not self.low < self.high:
            raise InputError(f"the uniform init needs a < b, got a={self.low:g}, b={self.high:g}")
        put("value", _finite(self.value, "the constant init value"))
        if self.bias is not None:
            put("bias", _finite(self.bias, "the bias init"))

    def key(self) -> str:
        """Canonical text, e.g. ``normal(std=1.0)`` or ``default|bias=-8.0``."""
        arg = {"normal": f"(std={self.std!r})", "uniform": f"(a={self.low!r},b={self.high!r})",
               "constant": f"(value={self.value!r})"}.get(self.name, "")
        return self.name + arg + ("" if self.bias is None else f"|bias={self.bias!r}")

    @property
    def label(self) -> str:
        arg = {"normal": f"std={self.std:g}", "uniform": f"a={self.low:g}, b={self.high:g}",
               "constant": f"value={self.value:g}"}.get(self.name)
        text = INIT_LABELS[self.name].split("(")[0].strip() + (f" ({arg})" if arg else "")
        return text + ("" if self.bias is None else f", bias {self.bias:g}")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "std": self.std, "low": self.low, "high": self.high, "value": self.value,
                "bias": self.bias}

    @classmethod
    def from_dict(cls, data: Any) -> InitSpec:
        if not isinstance(data, dict):
            raise InputError("an init must be given as a mapping with a 'name'")
        known = {k: data[k] for k in ("name", "std", "low", "high", "value", "bias") if k in data}
        return cls(**known)


# --- hidden sizes ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"^(\d{1,6})(?:\s*[x×*]\s*(\d{1,3}))?$", re.IGNORECASE)


def check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    """``hidden`` as a tuple of ints within the limits, or InputError."""
    lim = limits.current()
    max_layers, max_units = int(lim.max_layers), int(lim.max_units)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise InputError("hidden layer sizes must be a list of whole numbers")
    out = []
    for h in hidden:
        if isinstance(h, bool) or not isinstance(h, int):
            raise InputError(f"hidden layer sizes must be whole numbers, got {str(h)[:20]!r}")
        if not 1 <= h <= max_units:
            raise InputError(f"a hidden layer must have 1 to {max_units} units, got {h}")
        out.append(int(h))
    if len(out) > max_layers:
        raise InputError(f"at most {max_layers} hidden layers are allowed, got {len(out)}")
    return tuple(out)


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"512,256,256,128"`` or ``"256x5,128x5"`` -> sizes; ``""`` -> ``()`` (no hidden layer)."""
    if not isinstance(text, str):
        raise InputError("hidden layer sizes must be text such as 512,256,128")
    if len(text) > 400:
        raise InputError("the hidden layer sizes are too long; at most 20 layers, e.g. 256x5,128x5")
    sizes: list[int] = []
    max_layers = int(limits.current().max_layers)
    for raw in text.replace(";", ",").split(","):
        token = raw.strip()
        if not token:
            continue
        m = _TOKEN.match(token)
        if m is None:
            raise InputError(f"cannot read the hidden layer size {token[:20]!r}; "
                             "write sizes separated by commas, e.g. 512,256,128 or 256x5,128x5")
        size, repeat = int(m.group(1)), int(m.group(2) or 1)
        if repeat < 1:
            raise InputError(f"{token[:20]!r} repeats a layer 0 times")
        if len(sizes) + repeat > max_layers:
            raise InputError(f"at most {max_layers} hidden layers are allowed")
        sizes.extend([size] * repeat)
    return check_hidden(sizes)


def format_hidden(hidden: Sequence[int]) -> str:
    """Inverse of :func:`parse_hidden`, runs written compactly: (256,)*5 + (128,)*5 -> ``256x5,128x5``."""
    parts: list[str] = []
    i = 0
    while i < len(hidden):
        j = i
        while j < len(hidden) and hidden[j] == hidden[i]:
            j += 1
        n = j - i
        parts.append(f"{hidden[i]}x{n}" if n > 2 else ",".join([str(hidden[i])] * n))
        i = j
    return ",".join(parts)


# --- outputs and losses ----------------------------------------------------------------------------

def output_size(n_classes: int) -> int:
    """1 logit for two classes (BCE-with-logits), else one logit per class; ``n_classes == 0`` is a
    regression task (one output, mean squared error)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 0 or n_classes == 1:
        raise InputError(f"a classification task needs at least 2 classes, got {n_classes!r}")
    return 1 if n_classes in (0, 2) else n_classes


def is_regression(y: torch.Tensor) -> bool:
    """Regression targets are floats; class labels are int64."""
    return y.dtype.is_floating_point


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss: MSE for float targets (regression), BCE-with-logits for a single output, else cross-entropy."""
    if is_regression(y):
        return F.mse_loss(logits[:, 0], y.to(logits.dtype))
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], y.to(logits.dtype))
    return F.cross_entropy(logits, y)


def predict(logits: torch.Tensor) -> torch.Tensor:
    """Predicted class indices (int64), consistent with :func:`loss_fn`."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).to(torch.int64)
    return logits.argmax(dim=1)


# --- modules -----------------------------------------------------------------------------------------

class ActivationModule(nn.Module):
    """An :class:`ActivationChoice` as a module.

    Parameters the choice marks learnable (PReLU's ``init``, Swish's ``beta``) become 0-d
    ``nn.Parameter``s registered under their own name and are passed as tensors through
    ``choice.call_with``; every other parameter stays a fixed Python float (torch's fast path).
    """

    def __init__(self, choice: ActivationChoice) -> None:
        super().__init__()
        self.choice = choice
        self.gated = choice.is_gated
        values = choice.param_dict
        for name in choice.learnable:
            self.register_parameter(name, nn.Parameter(torch.tensor(float(values[name]))))
        self._fixed = choice.function() if not choice.learnable else None
        self._pair = choice.gated_function() if self.gated else None
        self._train = choice.training_function()  # RReLU's random slopes while training

    def gate_input(self, z: torch.Tensor) -> torch.Tensor:
        """What the element-wise act sees: ``z`` itself, or the gate half ``a`` of a gated layer's ``z``."""
        return z.chunk(2, dim=-1)[0] if self.gated else z

    def elementwise(self, x: torch.Tensor) -> torch.Tensor:
        """The element-wise act alone (a gated unit's gate act(a); used for slopes and saturation)."""
        if self._fixed is not None:
            return self._fixed(x)
        return self.choice.call_with(x, {name: getattr(self, name) for name in self.choice.learnable})

    @property
    def forward_is_elementwise(self) -> bool:
        """Does :meth:`forward` compute :meth:`elementwise` of its input (not a gated pair, not RReLU's
        training-mode random slopes)?  Then the forward graph holds the act's own slopes."""
        return self._pair is None and (self._train is None or not self.training)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self._pair is not None:
            a, b = z.chunk(2, dim=-1)
            return self._pair(a, b)
        if self._train is not None and self.training:
            return self._train(z)
        return self.elementwise(z)

    def extra_repr(self) -> str:
        return self.choice.label


class MLP(nn.Module):
    """``n_in`` -> hidden layers (each followed by its activation) -> ``n_out`` logits.

    ``activation`` is one choice for every hidden layer or a :class:`PerLayer` (one per layer).
    ``features`` (2-D inputs only) expands the point (x1, x2) into TF Playground's input features
    as the first step, so ``n_in`` stays the number of raw inputs.
    """

    def __init__(self, n_in: int, hidden: Sequence[int], n_out: int, activation: Choice,
                 init: InitSpec | None = None, features: Sequence[str] = ()) -> None:
        super().__init__()
        self.n_in, self.hidden, self.n_out = int(n_in), tuple(int(h) for h in hidden), int(n_out)
        self.activation = activation
        self.init = init or InitSpec()
        self.features = tuple(features)
        choices = layer_choices(activation, len(self.hidden))
        sizes = [features_mod.n_inputs(self.features, self.n_in), *self.hidden, self.n_out]
        # A gated layer computes both projections a and b: twice the outputs of its width.
        outs = [(2 if c.is_gated else 1) * h for c, h in zip(choices, self.hidden, strict=True)] + [self.n_out]
        # skip_init: no draw from the global RNG here; build_mlp initialises from its own generator.
        self.linears = nn.ModuleList(nn.utils.skip_init(nn.Linear, a, b) for a, b in zip(sizes[:-1], outs))
        self.acts = nn.ModuleList(ActivationModule(c) for c in choices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = features_mod.expand(x, self.features)
        for lin, act in zip(self.linears, self.acts):
            x = act(lin(x))
        return self.linears[-1](x)

    def forward_detailed(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Logits plus each hidden layer's pre-activations (what the element-wise act sees: the Linear
        output, or its gate half ``a`` in a gated layer) and post-activations."""
        pre: list[torch.Tensor] = []
        post: list[torch.Tensor] = []
        x = features_mod.expand(x, self.features)
        for lin, act in zip(self.linears, self.acts):
            z = lin(x)
            x = act(z)
            pre.append(act.gate_input(z))
            post.append(x)
        return self.linears[-1](x), pre, post

    @property
    def gated(self) -> bool:
        """Is any hidden layer gated?"""
        return any(act.gated for act in self.acts)

    def layer_names(self) -> list[str]:
        """``['L1 784→512', ..., 'L5 128→10']``: every Linear layer from input to output; a gated layer
        reads ``'L1 784→2×512 gated'`` (two projections of 512, one gating the other)."""
        names = []
        for i, lin in enumerate(self.linears):
            if i < len(self.hidden) and self.acts[i].gated:
                names.append(f"L{i + 1} {lin.in_features}→2×{self.hidden[i]} gated")
            else:
                names.append(f"L{i + 1} {lin.in_features}→{lin.out_features}")
        return names

    def config(self) -> dict[str, Any]:
        out = {"n_in": self.n_in, "hidden": list(self.hidden), "n_out": self.n_out,
               "activation": self.activation.as_dict(), "init": self.init.as_dict()}
        if self.features:
            out["features"] = list(self.features)
        return out


def init_linear(lin: nn.Linear, init: InitSpec, gen: torch.Generator) -> None:
    """Initialise one layer from ``gen``: weight, then bias (the default bias is drawn even when overridden)."""
    w, b = lin.weight, lin.bias
    name = init.name
    with torch.no_grad():
        if name == "default":  # what nn.Linear.reset_parameters does, from our generator
            nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=gen)
            bound = 1 / math.sqrt(lin.in_features) if lin.in_features > 0 else 0.0
            nn.init.uniform_(b, -bound, bound, generator=gen)
        else:
            if name == "xavier_uniform":
                nn.init.xavier_uniform_(w, generator=gen)
            elif name == "xavier_normal":
                nn.init.xavier_normal_(w, generator=gen)
            elif name == "kaiming_uniform":  # the ReLU gain for every activation (no hidden dependence)
                nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=gen)
            elif name == "kaiming_normal":
                nn.init.kaiming_normal_(w, nonlinearity="relu", generator=gen)
            elif name == "normal":
                nn.init.normal_(w, 0.0, init.std, generator=gen)
            elif name == "uniform":
                nn.init.uniform_(w, init.low, init.high, generator=gen)
            elif name == "zeros":
                w.zero_()
            else:  # constant
                w.fill_(init.value)
            b.zero_()
        if init.bias is not None:
            b.fill_(init.bias)


def build_mlp(n_in: int, hidden: Sequence[int], n_out: int, activation: Choice,
              init: InitSpec | None = None, seed: int = 0, features: Sequence[str] = ()) -> MLP:
    """A freshly initialised MLP; the same (sizes, init, seed) gives identical weights for any activation."""
    init = init or InitSpec()
    n_in = validate.whole(n_in, "the number of inputs", 1, limits.MAX_INPUTS)
    n_out = validate.whole(n_out, "the number of outputs", 1, limits.MAX_INPUTS)
    seed = validate.whole(seed, "the seed", 0, limits.MAX_SEED)
    if not isinstance(activation, (ActivationChoice, PerLayer)):
        raise InputError("the activation must be an ActivationChoice")
    hidden = check_hidden(hidden)
    if features and n_in != 2:
        raise InputError(f"input features apply to 2-D data only; this data has {n_in} columns")
    model = MLP(n_in, hidden, n_out, activation, init, features_mod.parse(list(features)))
    gen = torch.Generator().manual_seed(seed)
    choices = layer_choices(activation, len(hidden))
    for i, lin in enumerate(model.linears):
        if init.name == "default" and i < len(hidden) and _weight_init(choices[i]) == "siren":
            _siren_linear(lin, first=i == 0, w0=choices[i].param_dict.get("w0", 1.0), gen=gen)
        else:
            init_linear(lin, init, gen)
    return model


def _weight_init(activation: ActivationChoice) -> str | None:
    return None if activation.is_custom else activations.get(activation.name).weight_init


def _siren_linear(lin: nn.Linear, first: bool, w0: float, gen: torch.Generator) -> None:
    """SIREN's weights (Sitzmann et al. 2020), then PyTorch's default bias, from ``gen`` in that order."""
    n = lin.in_features
    bound = 1.0 / n if first else math.sqrt(6.0 / n) / w0
    with torch.no_grad():
        nn.init.uniform_(lin.weight, -bound, bound, generator=gen)
        nn.init.uniform_(lin.bias, -1 / math.sqrt(n), 1 / math.sqrt(n), generator=gen)


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) over a whole split, in chunks (accuracy is NaN for regression)."""
    if len(x) == 0:
        return math.nan, math.nan
    loss_sum, correct = 0.0, 0
    for start in range(0, len(x), EVAL_CHUNK):
        xb, yb = x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK]
        logits = model(xb)
        loss_sum += float(loss_fn(logits, yb)) * len(xb)
        if not is_regression(yb):
            correct += int((predict(logits) == yb).sum())
    return loss_sum / len(x), (math.nan if is_regression(y) else correct / len(x))
