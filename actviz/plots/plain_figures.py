"""Figures built from plain dicts, without Plotly's validating constructors.

Plotly validates every property as it is set: a five-line chart built with ``go.Figure``, ``add_trace``
and ``update_layout`` takes 30-40 ms, the same figure from dicts about 1 ms.  The live charts are rebuilt
at every update of every running job while a class polls them, on the web process's one core, so the hot
builders write dicts and wrap them here.  The test suite sets ``ACTVIZ_STRICT_FIGURES=1`` (tests/conftest.py):
there every figure is validated, so a misspelt property fails a test instead of reaching a browser.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from actviz.cache import memo

STRICT_ENV = "ACTVIZ_STRICT_FIGURES"


def plain_figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A figure from trace dicts (each with its ``type``) and a layout dict; validated under the tests."""
    spec = {"data": data, "layout": layout}
    if os.environ.get(STRICT_ENV) == "1":
        return go.Figure(spec)
    return go.Figure(spec, _validate=False)


@memo(maxsize=64)
def _grid_layout(rows: int, cols: int, n_titles: int, horizontal_spacing: float, vertical_spacing: float) -> str:
    titles = [f"\x00{i}" for i in range(n_titles)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=horizontal_spacing,
                        vertical_spacing=vertical_spacing)
    layout = fig.to_dict()["layout"]
    layout.pop("template", None)
    return json.dumps(layout)


def grid_layout(rows: int, cols: int, titles: Sequence[str], horizontal_spacing: float,
                vertical_spacing: float) -> dict[str, Any]:
    """The layout ``make_subplots`` makes for a grid (axes ``xaxis``, ``xaxis2`` … and the titles above the
    cells), its geometry computed once per shape: make_subplots takes ~15 ms a figure."""
    layout = json.loads(_grid_layout(rows, cols, len(titles), horizontal_spacing, vertical_spacing))
    for note, title in zip(layout.get("annotations", []), titles, strict=True):
        note["text"] = title
    return layout


def axis_names(layout: dict[str, Any], letter: str) -> list[str]:
    """The layout's axes of one kind (``x`` or ``y``): ``xaxis``, ``xaxis2`` …"""
    return [k for k in layout if k.startswith(f"{letter}axis")]


def cell_suffix(index: int) -> str:
    """The number Plotly gives the axes of the grid's cell ``index`` (row-major, from 0): "", "2", "3" …"""
    return "" if index == 0 else str(index + 1)


def cell_axes(index: int) -> dict[str, str]:
    """The axes a trace in the grid's cell ``index`` is drawn on."""
    return {"xaxis": f"x{cell_suffix(index)}", "yaxis": f"y{cell_suffix(index)}"}
