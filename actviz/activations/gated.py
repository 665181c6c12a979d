"""The catalogue, part 3: gated linear units, f(a, b) = act(a) · b.

A gated unit takes two inputs.  In a network each hidden layer computes two projections of its
input, ``a = W x + c`` and ``b = V x + d``, and passes on ``act(a) · b``: the first projection opens
and closes a gate on the second (the MLP of LLaMA-style Transformers is SwiGLU).  The gallery draws
each as a surface over (a, b) with its gradient field (∂f/∂a = act′(a)·b, ∂f/∂b = act(a)) and the
slice b = 1, which is the element-wise ``act`` itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from actviz.activations.registry import GATED, Activation, Param, ParamValue, Tensor, register


def _swiglu(a: Tensor, b: Tensor, beta: ParamValue) -> Tensor:
    return a * torch.sigmoid(beta * a) * b


register(Activation(
    "glu", "GLU", r"\mathrm{GLU}(a, b) = \sigma(a)\, b",
    lambda a, b: torch.sigmoid(a) * b,
    "The original gated linear unit: a sigmoid gate between 0 and 1 scales the linear path b, so "
    "gradients flow through b unsquashed. torch.nn.GLU splits one input in two halves the same way. "
    "Source: Dauphin, Fan, Auli & Grangier, Language modeling with gated convolutional networks (2017).",
    kind=GATED))
register(Activation(
    "reglu", "ReGLU", r"\mathrm{ReGLU}(a, b) = \max(0, a)\, b",
    lambda a, b: F.relu(a) * b,
    "A gated unit with a ReLU gate: the gate is either shut (a ≤ 0) or opens without bound. "
    "Source: Shazeer, GLU variants improve Transformer (2020).",
    kind=GATED))
register(Activation(
    "geglu", "GEGLU", r"\mathrm{GEGLU}(a, b) = \mathrm{GELU}(a)\, b",
    lambda a, b: F.gelu(a) * b,
    "A gated unit with a GELU gate (used in T5 v1.1 and Gemma). "
    "Source: Shazeer, GLU variants improve Transformer (2020).",
    kind=GATED))
register(Activation(
    "swiglu", "SwiGLU", r"\mathrm{SwiGLU}(a, b) = \mathrm{Swish}_\beta(a)\, b = a\,\sigma(\beta a)\, b",
    _swiglu,
    "A gated unit with a Swish gate; with β = 1 (SiLU) it is the feed-forward block of PaLM and "
    "LLaMA. It is not x·σ(x): it needs two inputs. "
    "Source: Shazeer, GLU variants improve Transformer (2020).",
    params=(Param("beta", 1.0, 0.0, 10.0, 0.05, "sharpness β of the Swish gate"),),
    kind=GATED))
