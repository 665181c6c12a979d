"""Link codecs of the training lab's engine options that need more than a number: input features and
per-layer race items (see :mod:`actviz.views.urlstate` for the codec protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actviz import limits
from actviz.activations import choice as choice_mod
from actviz.errors import InputError
from actviz.network import features as features_mod
from actviz.network import perlayer


@dataclass(frozen=True)
class FeatureList:
    """``feat=x1,x2,x1x2``: TF Playground's input features for 2-D data (a list for a multiselect)."""

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        try:
            chosen = features_mod.parse(raw)
        except InputError as exc:
            warnings.append(f"{exc}; using {','.join(default)}")
            return default
        return list(chosen or features_mod.RAW)

    def format(self, value: Any) -> str:
        return ",".join(value)

    def widget(self, value: Any) -> Any:
        return list(value)


@dataclass(frozen=True)
class LayerItems:
    """``layers=relu>tanh,tanh>relu``: race items with one activation per hidden layer (kept as typed
    when it reads; the config check says whether it fits the network)."""

    def parse(self, raw: str, key: str, default: Any, warnings: list[str]) -> Any:
        try:
            for item in perlayer.split_items(raw[:perlayer.MAX_ITEM_LENGTH * 4])[:limits.MAX_COMPARED]:
                perlayer.parse_item(item, custom=_PLACEHOLDER)
        except InputError as exc:
            warnings.append(f"per-layer activations: {exc}; using none")
            return default
        return raw.strip()

    def format(self, value: Any) -> str:
        return str(value)

    def widget(self, value: Any) -> Any:
        return value


_PLACEHOLDER = choice_mod.ActivationChoice("custom", (), "x")  # stands for the page's custom formula while parsing
