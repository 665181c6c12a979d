"""Widgets the pages share: parameter sliders, the weight-init picker, the dataset status panel and
the custom-formula box.  They read and write session keys only; the core validates what they return."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from actviz import activations
from actviz.activations import expr
from actviz.data import datasets
from actviz.errors import InputError
from actviz.network import models
from actviz.views.urlstate import CUSTOM_PARAM_RANGE, PageState, format_assignments
from ui.text import escape

# Dataset names as the pages' dataset pickers show them.
DATASET_LABELS = {"moons": "Moons (2-D)", "circles": "Circles (2-D)", "xor": "XOR (2-D)",
                  "spiral": "Spiral (2-D)", "gaussian": "Two Gaussian blobs (2-D)",
                  "reg_plane": "Plane (2-D regression)", "reg_gaussians": "Multi-Gaussian (2-D regression)",
                  "digits": "Digits 8×8 (bundled)", "mnist": "MNIST", "fashion_mnist": "FashionMNIST",
                  "csv": "My CSV file"}


def initial_value(key: str, value: Any) -> None:
    """Give a widget its starting value through session state (only if it has none yet).

    Widgets are then created without ``value=``, so Streamlit never sees two sources of truth.
    """
    if key not in st.session_state:
        st.session_state[key] = value


def idx_dataset_panel(name: str, key: str) -> None:
    """Status of MNIST/FashionMNIST on this server, with a download button when files are missing.

    The folder is the server's ($ACTVIZ_DATA_DIR, else ./data): paths are never taken from visitors.
    """
    if datasets.available(name):
        st.caption(escape(datasets.status(name)))
        return
    st.warning(escape(datasets.status(name)), icon=":material/folder_off:")
    if st.button(f"Download {datasets.TITLES.get(name, name)} now (about 30-60 MB)", key=key):
        bar = st.progress(0.0, text="Starting the download…")
        try:
            datasets.download(name, progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=escape(msg)))
        except InputError as exc:
            st.error(escape(exc))
            return
        st.success(f"{datasets.TITLES.get(name, name)} is ready.")
        st.rerun()


def param_sliders(name: str, prefix: str, current: Mapping[str, float] | None = None, expanded: bool = False,
                  learnable_prefix: str | None = None) -> tuple[dict[str, float], list[str]]:
    """One activation's parameter sliders in an expander (keys ``{prefix}_{name}_{param}``).

    Sliders start at ``current`` (else torch's defaults).  With ``learnable_prefix``, parameters the
    registry marks learnable get a 'learn during training' checkbox.  Returns (values, learned names).
    """
    act = activations.get(name)
    values: dict[str, float] = {}
    learned: list[str] = []
    if not act.params:
        return values, learned
    start = {**act.defaults(), **(current or {})}
    with st.expander(f"{act.label} parameters", expanded=expanded):
        for p in act.params:
            key = f"{prefix}_{name}_{p.name}"
            initial_value(key, float(start[p.name]))
            values[p.name] = st.slider(p.name, p.min, p.max, step=p.step, key=key,
                                       help=f"{p.help} (torch default {p.default:g})")
            if p.learnable and learnable_prefix:
                lkey = f"{learnable_prefix}_{name}_{p.name}"
                initial_value(lkey, False)
                if st.checkbox(f"learn {p.name} during training", key=lkey):
                    learned.append(p.name)
    return values, learned


def put_bias(page: PageState[Any], bias: float | None, overwrite: bool) -> None:
    """The constant-bias switch and value for a state's ``bias`` (None: the init's own bias)."""
    for key, value in ((page.prefix + "bias_on", bias is not None), (page.prefix + "bias", float(bias or 0.0))):
        if overwrite or key not in st.session_state:
            st.session_state[key] = value


def init_widgets(page: PageState[Any]) -> tuple[str, float | None]:
    """Weight-init picker with the inputs its scheme needs, and the constant-bias switch.

    The widgets are the page's init fields (``{prefix}init``, ``{prefix}std``, ...).  Returns (init name,
    the constant bias or None).
    """
    k = {attr: page.widget_key(attr) for attr in ("init", "init_std", "init_low", "init_high", "init_value")}
    init = st.selectbox("Weight init", models.INIT_NAMES, key=k["init"], format_func=models.INIT_LABELS.get,
                        help="Kaiming inits use the ReLU gain whatever the activation, so every activation "
                             "starts from the same weights.")
    limit = models.INIT_VALUE_LIMIT
    if init == "normal":
        st.number_input("std", 1e-6, limit, format="%.4g", key=k["init_std"])
    elif init == "uniform":
        c1, c2 = st.columns(2)
        c1.number_input("a", -limit, limit, format="%.4g", key=k["init_low"])
        c2.number_input("b", -limit, limit, format="%.4g", key=k["init_high"])
    elif init == "constant":
        st.number_input("value", -limit, limit, format="%.4g", key=k["init_value"])
    put_bias(page, None, overwrite=False)
    if not st.checkbox("Constant bias", key=page.prefix + "bias_on"):
        return init, None
    return init, float(st.number_input("bias", -limit, limit, format="%.4g", key=page.prefix + "bias"))


def custom_formula(prefix: str, declared: str, help: str) -> str:
    """The custom formula's text box (``{prefix}expr``) with a slider per free name in it (starting at
    the ``declared`` values); returns the parameters as text (``beta=1.5``)."""
    source = st.text_input("f(x) =", key=prefix + "expr", max_chars=expr.MAX_LENGTH, help=help)
    start = expr.parse_param_assignments_safe(declared)
    lo, hi = CUSTOM_PARAM_RANGE
    values = {}
    for pname in expr.free_names(source):
        key = f"{prefix}cp_{pname}"
        initial_value(key, float(min(max(start.get(pname, 1.0), lo), hi)))
        values[pname] = st.slider(f"{escape(pname)} (in your formula)", lo, hi, step=0.05, key=key)
    return format_assignments(values)


def put_custom_params(prefix: str, declared: str, overwrite: bool) -> None:
    """Seed the custom formula's parameter sliders from ``beta=1.5``-style text."""
    lo, hi = CUSTOM_PARAM_RANGE
    for pname, value in expr.parse_param_assignments_safe(declared).items():
        key = f"{prefix}cp_{pname}"
        if overwrite or key not in st.session_state:
            st.session_state[key] = float(min(max(value, lo), hi))
