"""Sidebar widgets of the gradient-flow page, read into a GradientState (no tensor math here)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from actviz import activations, datasets, expr, gradient_presets
from actviz import gradient_state as gs
from ui.common import DATASET_LABELS, idx_dataset_panel, init_widgets, param_sliders, seed

_SCALARS = {"gf_data": "dataset", "gf_n": "n_samples", "gf_noise": "noise", "gf_dseed": "data_seed",
            "gf_custom_on": "custom_on", "gf_expr": "custom_expr", "gf_hidden": "hidden", "gf_init": "init",
            "gf_std": "init_std", "gf_a": "init_low", "gf_b": "init_high", "gf_value": "init_value",
            "gf_batch": "batch_size", "gf_seed": "seed", "gf_eps": "eps", "gf_steps": "sym_steps", "gf_lr": "sym_lr"}
_FLOATS = {"noise", "init_std", "init_low", "init_high", "init_value", "eps", "sym_lr"}


def load_widgets(state: gs.GradientState, overwrite: bool) -> None:
    """Put ``state`` into the widgets' session keys (only missing ones unless ``overwrite``)."""
    put = (lambda k, v: st.session_state.__setitem__(k, v)) if overwrite else seed
    for key, attr in _SCALARS.items():
        value = getattr(state, attr)
        put(key, float(value) if attr in _FLOATS else value)
    put("gf_bias_on", state.bias is not None)
    put("gf_bias", float(state.bias if state.bias is not None else 0.0))
    variants = [t for t in state.selected if "(" in t]
    known = st.session_state.setdefault("gf_variants", [])
    known.extend(t for t in variants if t not in known)
    put("gf_act", list(state.selected))
    for token in state.selected:
        if "(" in token:
            continue
        current = state.param_values(token)
        for p in activations.get(token).params:
            put(f"gf_p_{token}_{p.name}", float(current[p.name]))
    declared = expr.parse_param_assignments_safe(state.custom_params)
    lo, hi = gs.CUSTOM_PARAM_RANGE
    for pname, value in declared.items():
        put(f"gf_cp_{pname}", float(min(max(value, lo), hi)))


def apply_preset(key: str) -> None:
    """Button callback: load a preset into every widget (runs before the script reruns)."""
    preset = gradient_presets.PRESETS[key]
    state, note = preset.resolve(None)
    load_widgets(state, overwrite=True)
    st.session_state.gf_preset = key
    st.session_state.gf_preset_state = state
    st.session_state.gf_preset_note = note


def _add_variant() -> None:
    name = st.session_state.gf_var_name
    values = {p.name: st.session_state[f"gf_var_{name}_{p.name}"] for p in activations.get(name).params}
    token = gs.variant_token(name, values)
    if token not in st.session_state.gf_variants:
        st.session_state.gf_variants.append(token)
    if token not in st.session_state.gf_act:
        st.session_state.gf_act = [*st.session_state.gf_act, token]


def render_sidebar() -> gs.GradientState:
    """Draw the sidebar and return what it says (validated later by the core)."""
    with st.sidebar:
        st.header("Data")
        # No CSV here: an upload cannot live in a shareable link.
        name = st.selectbox("Dataset", [n for n in DATASET_LABELS if n != "csv"], key="gf_data",
                            format_func=DATASET_LABELS.get)
        if name in datasets.SYNTHETIC:
            c1, c2 = st.columns(2)
            c1.number_input("Samples", *datasets.N_SAMPLES_RANGE, step=100, key="gf_n")
            c2.slider("Noise", 0.0, 1.0, step=0.05, key="gf_noise")
            st.number_input("Data seed", 0, gs.MAX_SEED, key="gf_dseed")
        elif name in ("mnist", "fashion_mnist"):
            idx_dataset_panel(name, key="gf_download_data")

        st.header("Activations")
        options = list(activations.names()) + list(st.session_state.gf_variants)
        selected = st.multiselect("Compare (same initial weights for each)", options, key="gf_act",
                                  format_func=gs.token_label, max_selections=gs.MAX_SELECTED)
        params = _param_sliders([t for t in selected if "(" not in t])
        with st.expander("Compare other parameter values"):
            with_params = [a.name for a in activations.REGISTRY.values() if a.params]
            vname = st.selectbox("Activation", with_params, key="gf_var_name",
                                 format_func=lambda n: activations.get(n).label)
            for p in activations.get(vname).params:
                seed(f"gf_var_{vname}_{p.name}", float(p.default))
                st.slider(p.name, p.min, p.max, step=p.step, key=f"gf_var_{vname}_{p.name}", help=p.help)
            st.button("Add this variant", on_click=_add_variant, key="gf_var_add")
        custom_on = st.toggle("Add my own formula", key="gf_custom_on")
        custom_params = gs.DEFAULT_CUSTOM_PARAMS
        if custom_on:
            source = st.text_input("f(x) =", key="gf_expr", max_chars=expr.MAX_LENGTH,
                                   help="Same syntax as in the gallery, e.g. x * sigmoid(beta * x).")
            lo, hi = gs.CUSTOM_PARAM_RANGE
            values = {}
            for pname in expr.free_names(source):
                seed(f"gf_cp_{pname}", 1.0)
                values[pname] = st.slider(f"{pname} (in your formula)", lo, hi, step=0.05, key=f"gf_cp_{pname}")
            custom_params = gs.format_assignments(values)

        st.header("Network")
        st.text_input("Hidden layer sizes", key="gf_hidden", help="Comma-separated, e.g. 512,256,256,128 or "
                      "256x5,128x5 (at most 20 layers); empty means no hidden layer.")
        init, bias_on = init_widgets("gf_", {"init": "init", "std": "std", "low": "a", "high": "b",
                                              "value": "value", "bias_on": "bias_on", "bias": "bias"})
        c1, c2 = st.columns(2)
        c1.number_input("Batch size", 1, 65536, key="gf_batch")
        c2.number_input("Seed", 0, gs.MAX_SEED, key="gf_seed", help="Same seed: same weights and same batch.")
        st.slider("Saturated where |f′(z)| <", 0.0, 0.5, step=0.005, key="gf_eps")
        if init in ("zeros", "constant"):
            st.caption("Symmetry check: train a few SGD steps and compare the hidden units.")
            c1, c2 = st.columns(2)
            c1.number_input("SGD steps", 1, gs.MAX_SYM_STEPS, key="gf_steps")
            c2.number_input("Learning rate", 1e-4, 10.0, format="%.4g", key="gf_lr")

    ss = st.session_state
    state = gs.GradientState(**{attr: ss[key] for key, attr in _SCALARS.items()})
    state = replace(state, selected=list(selected), custom_params=custom_params,
                    bias=float(ss.gf_bias) if bias_on else None, preset=ss.get("gf_preset"))
    for token, values in params.items():
        state = gs.with_params(state, token, values)
    return state


def _param_sliders(names: list[str]) -> dict[str, dict[str, float]]:
    return {name: param_sliders(name, "gf_p")[0] for name in names}
