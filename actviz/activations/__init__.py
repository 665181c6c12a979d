"""Activations: the registry and its catalogue, custom formulas, chosen activations, curves.

``from actviz import activations`` gives the registry's interface (``get``, ``names``, ``REGISTRY``);
importing the package registers every catalogue entry: the torch.nn classics (:mod:`.catalogue`),
recent element-wise ones (:mod:`.modern`) and gated units (:mod:`.gated`).
"""

from actviz.activations import catalogue, gated, modern  # noqa: F401  (registers the entries)
from actviz.activations.registry import ELEMENTWISE, GATED, REGISTRY, Activation, Param, get, names, register

__all__ = ["ELEMENTWISE", "GATED", "REGISTRY", "Activation", "Param", "get", "names", "register"]
