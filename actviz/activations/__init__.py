"""Activations: the registry and its catalogue, custom formulas, chosen activations, curves.

``from actviz import activations`` gives the registry's interface (``get``, ``names``, ``REGISTRY``);
importing the package registers every catalogue entry.
"""

from actviz.activations import catalogue  # noqa: F401  (registers the entries)
from actviz.activations.registry import REGISTRY, Activation, Param, get, names, register

__all__ = ["REGISTRY", "Activation", "Param", "get", "names", "register"]
