"""Sidebar widgets of the gradient-flow page, read into a GradientState (no tensor math here)."""

from __future__ import annotations

import streamlit as st

from actviz import activations, limits
from actviz.data import datasets
from actviz.views import gradient_flow as gf
from actviz.views.gradient_flow import GRADIENT_FLOW, GradientState
from actviz.views.lessons import GRADIENT_PRESETS
from actviz.views.urlstate import with_params
from ui.urlsync import put_widgets
from ui.widgets import (
    DATASET_LABELS,
    custom_formula,
    idx_dataset_panel,
    init_widgets,
    initial_value,
    param_sliders,
    put_bias,
    put_custom_params,
)

key = GRADIENT_FLOW.widget_key


def load_widgets(state: GradientState, overwrite: bool) -> None:
    """Put ``state`` into the widgets' session keys (only missing ones unless ``overwrite``)."""
    put_widgets(GRADIENT_FLOW, state, overwrite)
    put_bias(GRADIENT_FLOW, state.bias, overwrite)
    known = st.session_state.setdefault("gf_variants", [])
    known.extend(t for t in state.selected if "(" in t and t not in known)
    for token in state.selected:
        if "(" in token:
            continue
        current = state.param_values(token)
        for p in activations.get(token).params:
            k = f"gf_p_{token}_{p.name}"
            if overwrite or k not in st.session_state:
                st.session_state[k] = float(current[p.name])
    put_custom_params("gf_", state.custom_params, overwrite)


def apply_preset(preset_key: str) -> None:
    """Button callback: load a preset into every widget (runs before the script reruns)."""
    preset = GRADIENT_PRESETS[preset_key]
    state, note = preset.resolve(None)
    load_widgets(state, overwrite=True)
    st.session_state.gf_preset = preset_key
    st.session_state.gf_preset_state = state
    st.session_state.gf_preset_note = note


def pick_preset() -> None:
    """The preset pills' callback: load the picked preset (picking the current one again reloads it)."""
    picked = st.session_state.get("gf_preset_pick") or st.session_state.get("gf_preset")
    if picked in GRADIENT_PRESETS:
        st.session_state.gf_preset_pick = picked
        apply_preset(picked)


def show_figure(view: gf.GradientView, name: str, aside: str | None = None, lead: bool = False) -> None:
    """One figure with its heading and caption; ``aside`` (an explanation) beside it.  The ``lead`` figure
    (a preset's lesson) gets a smaller heading so that it fits the first screen."""
    title, caption = gf.figure_text(view, name)
    if lead:
        st.markdown(f"#### {title}")
    else:
        st.subheader(title)
    chart, side = st.columns([2, 1]) if aside else (st.container(), None)
    chart.plotly_chart(view.figures[name], key=f"gf_{name}", config={"displaylogo": False})
    chart.caption(caption)
    if side is not None:
        side.info(aside)


def _add_variant() -> None:
    name = st.session_state.gf_var_name
    values = {p.name: st.session_state[f"gf_var_{name}_{p.name}"] for p in activations.get(name).params}
    token = gf.variant_token(name, values)
    if token not in st.session_state.gf_variants:
        st.session_state.gf_variants.append(token)
    if token not in st.session_state.gf_act:
        st.session_state.gf_act = [*st.session_state.gf_act, token]


def render_sidebar(base: GradientState) -> GradientState:
    """Draw the sidebar and return what it says (validated later by the core)."""
    with st.sidebar:
        st.header("Data")
        # No CSV here: an upload cannot live in a shareable link.
        name = st.selectbox("Dataset", [n for n in DATASET_LABELS if n != "csv"], key=key("dataset"),
                            format_func=DATASET_LABELS.get)
        if name in datasets.SYNTHETIC:
            c1, c2 = st.columns(2)
            c1.number_input("Samples", *datasets.N_SAMPLES_RANGE, step=100, key=key("n_samples"))
            c2.slider("Noise", 0.0, 1.0, step=0.05, key=key("noise"))
            st.number_input("Data seed", 0, limits.MAX_SEED, key=key("data_seed"))
        elif name in ("mnist", "fashion_mnist"):
            idx_dataset_panel(name, key="gf_download_data")

        st.header("Activations")
        options = list(activations.names()) + list(st.session_state.setdefault("gf_variants", []))
        selected = st.multiselect("Compare (same initial weights for each)", options, key=key("selected"),
                                  format_func=gf.token_label, max_selections=gf.MAX_SELECTED)
        params = {t: param_sliders(t, "gf_p")[0] for t in selected if "(" not in t}
        with st.expander("Compare other parameter values"):
            with_params_names = [a.name for a in activations.REGISTRY.values() if a.params]
            vname = st.selectbox("Activation", with_params_names, key="gf_var_name",
                                 format_func=lambda n: activations.get(n).label)
            for p in activations.get(vname).params:
                initial_value(f"gf_var_{vname}_{p.name}", float(p.default))
                st.slider(p.name, p.min, p.max, step=p.step, key=f"gf_var_{vname}_{p.name}", help=p.help)
            st.button("Add this variant", on_click=_add_variant, key="gf_var_add")
        custom_params = base.custom_params
        if st.toggle("Add my own formula", key=key("custom_on")):
            custom_params = custom_formula("gf_", base.custom_params,
                                           help="Same syntax as in the gallery, e.g. x * sigmoid(beta * x).")

        st.header("Network")
        st.text_input("Hidden layer sizes", key=key("hidden"), help="Comma-separated, e.g. 512,256,256,128 or "
                      "256x5,128x5 (at most 20 layers); empty means no hidden layer.")
        init, bias = init_widgets(GRADIENT_FLOW)
        c1, c2 = st.columns(2)
        c1.number_input("Batch size", 1, limits.MAX_BATCH, key=key("batch_size"))
        c2.number_input("Seed", 0, limits.MAX_SEED, key=key("seed"), help="Same seed: same weights and same batch.")
        st.slider("Saturated where |f′(z)| <", 0.0, limits.SATURATION_EPS_MAX, step=0.005, key=key("eps"))
        if init in ("zeros", "constant"):
            st.caption("Symmetry check: train a few SGD steps and compare the hidden units.")
            c1, c2 = st.columns(2)
            c1.number_input("SGD steps", 1, limits.MAX_SYMMETRY_STEPS, key=key("sym_steps"))
            c2.number_input("Learning rate", 1e-4, 10.0, format="%.4g", key=key("sym_lr"))

    state = GRADIENT_FLOW.from_widgets(st.session_state, base)
    state.selected, state.params, state.custom_params, state.bias = list(selected), {}, custom_params, bias
    state.preset = st.session_state.get("gf_preset")
    for token, values in params.items():
        state = with_params(state, token, values)
    return state
