"""Helpers for AppTest-based page tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def open_page(page: str | None = None, query: dict[str, str] | None = None, timeout: float = 120) -> AppTest:
    """Run app.py like a browser would (optionally with ?query), then switch to ``page``."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def _decode_typed_arrays(value: Any) -> Any:
    """Plotly serialises numpy arrays as {"dtype", "bdata"} (base64); tests want plain lists."""
    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
            if "shape" in value:
                arr = arr.reshape([int(n) for n in str(value["shape"]).split(",")])
            return arr.tolist()
        return {k: _decode_typed_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_typed_arrays(v) for v in value]
    return value


def figures(at: AppTest) -> list[dict[str, Any]]:
    """Every Plotly chart on the page as its figure JSON (typed arrays decoded to lists)."""
    return [_decode_typed_arrays(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")]


def traces(fig: dict[str, Any], series: str | None = None) -> list[dict[str, Any]]:
    out = fig["data"]
    if series is not None:
        out = [t for t in out if (t.get("meta") or {}).get("series") == series]
    return out


def shown(markdown: str) -> str:
    """The text a browser shows for a message the pages escaped with ui.text.escape (backslashes before
    punctuation and invisible word joiners removed): compare message contents through this."""
    import re

    from ui.text import WORD_JOINER

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


def assert_clean(at: AppTest) -> None:
    """No uncaught exception rendered on the page, and none caught by the pages' error boundary
    (ui/boundary.py turns a bug into an error message; a test must still see it as a failure)."""
    from ui.boundary import INTERNAL_ERROR

    assert not at.exception, [e.value for e in at.exception]
    errors = [shown(e.value) for e in at.error]
    assert not any(INTERNAL_ERROR in text for text in errors), errors
