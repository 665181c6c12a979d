"""Small Streamlit helpers the pages share: URL sync, widget seeding, messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st


def seed(key: str, value: Any) -> None:
    """Give a widget its starting value through session state (only if it has none yet).

    Widgets are then created without ``value=``, so Streamlit never sees two sources of truth.
    """
    if key not in st.session_state:
        st.session_state[key] = value


def sync_query_params(encoded: Mapping[str, str]) -> None:
    """Make the address bar hold exactly ``encoded`` (only writes when something changed)."""
    current = {k: (v[-1] if isinstance(v, list) else v) for k, v in st.query_params.to_dict().items()}
    if current != dict(encoded):
        st.query_params.from_dict(dict(encoded))


def show_warnings(warnings: Iterable[str], prefix: str = "Some settings in the link were not valid") -> None:
    items = list(warnings)
    if items:
        st.warning(prefix + " and were replaced by defaults:\n\n" + "\n".join(f"- {w}" for w in items),
                   icon="⚠️")


def ensure_app_navigation() -> None:
    """Route every page through app.py's st.navigation, even on a fresh server.

    Streamlit treats a ``pages/`` folder as its older multipage mode until some session has run
    ``st.navigation``.  If a server's first visitor opens a shared link such as ``/gallery``,
    Streamlit would run ``pages/gallery.py`` on its own, skipping app.py (page titles, layout,
    navigation).  Switching the process to navigation mode and rerunning sends this and every later
    run through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def idx_dataset_panel(name: str, key: str) -> None:
    """Status of MNIST/FashionMNIST on this server, with a download button when files are missing.

    The folder is the server's ($ACTVIZ_DATA_DIR, else ./data): paths are never taken from visitors.
    """
    from actviz import datasets
    from actviz.errors import InputError

    if datasets.available(name):
        st.caption(datasets.status(name))
        return
    st.warning(datasets.status(name), icon=":material/folder_off:")
    if st.button(f"Download {datasets.TITLES.get(name, name)} now (about 30-60 MB)", key=key):
        bar = st.progress(0.0, text="Starting the download…")
        try:
            datasets.download(name, progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg))
        except InputError as exc:
            st.error(str(exc))
            return
        st.success(f"{datasets.TITLES.get(name, name)} is ready.")
        st.rerun()


def param_sliders(name: str, prefix: str, current: Mapping[str, float] | None = None, expanded: bool = False,
                  learnable_prefix: str | None = None) -> tuple[dict[str, float], list[str]]:
    """One activation's parameter sliders in an expander (keys ``{prefix}_{name}_{param}``).

    Sliders start at ``current`` (else torch's defaults).  With ``learnable_prefix``, parameters the
    registry marks learnable get a 'learn during training' checkbox.  Returns (values, learned names).
    """
    from actviz import activations

    act = activations.get(name)
    values: dict[str, float] = {}
    learned: list[str] = []
    if not act.params:
        return values, learned
    start = {**act.defaults(), **(current or {})}
    with st.expander(f"{act.label} parameters", expanded=expanded):
        for p in act.params:
            key = f"{prefix}_{name}_{p.name}"
            seed(key, float(start[p.name]))
            values[p.name] = st.slider(p.name, p.min, p.max, step=p.step, key=key,
                                       help=f"{p.help} (torch default {p.default:g})")
            if p.learnable and learnable_prefix:
                lkey = f"{learnable_prefix}_{name}_{p.name}"
                seed(lkey, False)
                if st.checkbox(f"learn {p.name} during training", key=lkey):
                    learned.append(p.name)
    return values, learned


# Dataset names as the pages' dataset pickers show them.
DATASET_LABELS = {"moons": "Moons (2-D)", "circles": "Circles (2-D)", "xor": "XOR (2-D)",
                  "spiral": "Spiral (2-D)", "gaussian": "Two Gaussian blobs (2-D)",
                  "digits": "Digits 8×8 (bundled)", "mnist": "MNIST", "fashion_mnist": "FashionMNIST",
                  "csv": "My CSV file"}


def init_widgets(prefix: str, keys: Mapping[str, str]) -> tuple[str, bool]:
    """Weight-init picker with the inputs its scheme needs, and the constant-bias switch.

    ``keys`` names the session keys (after ``prefix``) for: init, std, low, high, value, bias_on,
    bias.  Returns (init name, constant bias on?).
    """
    from actviz import models

    k = {role: prefix + suffix for role, suffix in keys.items()}
    init = st.selectbox("Weight init", models.INIT_NAMES, key=k["init"], format_func=models.INIT_LABELS.get,
                        help="Kaiming inits use the ReLU gain whatever the activation, so every activation "
                             "starts from the same weights.")
    limit = models.INIT_VALUE_LIMIT
    if init == "normal":
        st.number_input("std", 1e-6, limit, format="%.4g", key=k["std"])
    elif init == "uniform":
        c1, c2 = st.columns(2)
        c1.number_input("a", -limit, limit, format="%.4g", key=k["low"])
        c2.number_input("b", -limit, limit, format="%.4g", key=k["high"])
    elif init == "constant":
        st.number_input("value", -limit, limit, format="%.4g", key=k["value"])
    bias_on = st.checkbox("Constant bias", key=k["bias_on"])
    if bias_on:
        st.number_input("bias", -limit, limit, format="%.4g", key=k["bias"])
    return init, bias_on
