"""Gallery: every activation with its autograd derivatives, properties and formulas."""

from __future__ import annotations

import streamlit as st

from actviz import activations, expr, gallery, viewstate
from ui.common import ensure_app_navigation, param_sliders, seed, show_warnings, sync_query_params

ensure_app_navigation()

st.title("Activation gallery")
st.caption("Pick activations, drag their parameters and watch f(x) and its autograd derivative "
           "change. The page address keeps every setting: copy it to share this exact view.")

# --- state: from the link on a session's first visit, then from the widgets -----------------------
if "gallery_state" not in st.session_state:
    initial, link_warnings = viewstate.decode_gallery(st.query_params.to_dict())
    st.session_state.gallery_state = initial
    st.session_state.gallery_link_warnings = link_warnings
state: viewstate.GalleryState = st.session_state.gallery_state
show_warnings(st.session_state.get("gallery_link_warnings", []))

seed("g_act", list(state.selected))
seed("g_xmin", float(state.xmin))
seed("g_xmax", float(state.xmax))
seed("g_d2", state.show_d2)
seed("g_layout", state.layout)
seed("g_shade", state.shade)
seed("g_eps", float(state.saturation_eps))
seed("g_custom_on", state.custom_on)
seed("g_expr", state.custom_expr)

with st.sidebar:
    st.header("Activations")
    selected = st.multiselect(
        "Activations to plot", activations.names(), key="g_act",
        format_func=lambda n: activations.get(n).label, max_selections=viewstate.MAX_SELECTED,
        help="Each one is drawn with its derivative; add or remove freely.")
    param_values = {name: param_sliders(name, "g_p", state.param_values(name), expanded=True)[0]
                    for name in selected}

    st.header("Custom activation")
    custom_on = st.toggle("Add my own formula", key="g_custom_on")
    custom_params_text = state.custom_params
    if custom_on:
        source = st.text_input(
            "f(x) =", key="g_expr", max_chars=expr.MAX_LENGTH,
            help="Use x, numbers, + - * / **, and functions such as exp, log, sqrt, abs, tanh, "
                 "sigmoid, softplus, erf, clamp, min, max, step, where, or any catalogue name "
                 "(relu, gelu, …). Any other name becomes a parameter with a slider.")
        declared = expr.parse_param_assignments_safe(state.custom_params)
        lo, hi = viewstate.CUSTOM_PARAM_RANGE
        custom_values = {}
        for pname in expr.free_names(source):
            key = f"g_cp_{pname}"
            seed(key, float(min(max(declared.get(pname, 1.0), lo), hi)))
            custom_values[pname] = st.slider(f"{pname} (in your formula)", lo, hi, step=0.05, key=key)
        custom_params_text = viewstate.format_assignments(custom_values)

    st.header("View")
    c1, c2 = st.columns(2)
    xmin = c1.number_input("x from", -1000.0, 1000.0, step=1.0, key="g_xmin")
    xmax = c2.number_input("x to", -1000.0, 1000.0, step=1.0, key="g_xmax")
    show_d2 = st.toggle("Show second derivative f″", key="g_d2")
    layout = st.radio("Layout", viewstate.LAYOUTS, key="g_layout", horizontal=True,
                      format_func={"overlay": "Overlay", "grid": "One panel each"}.get)
    shade = st.toggle("Shade saturated regions", key="g_shade")
    eps = st.slider("Saturated where |f′| <", 0.0, viewstate.EPS_MAX, step=0.005, key="g_eps",
                    disabled=not shade)

new_state = viewstate.GalleryState(
    selected=list(selected), xmin=float(xmin), xmax=float(xmax), show_d2=show_d2, layout=layout,
    shade=shade, saturation_eps=float(eps), custom_on=custom_on,
    custom_expr=st.session_state.get("g_expr", state.custom_expr), custom_params=custom_params_text)
for name, values in param_values.items():
    new_state = viewstate.with_params(new_state, name, values)
if xmin >= xmax:
    st.error(f"'x from' ({xmin:g}) must be below 'x to' ({xmax:g}); showing the previous range.")
    new_state.xmin, new_state.xmax = state.xmin, state.xmax
st.session_state.gallery_state = new_state
sync_query_params(viewstate.encode_gallery(new_state))

# --- the view --------------------------------------------------------------------------------------
if not selected and not custom_on:
    st.info("Choose at least one activation in the sidebar (or add your own formula).")
    st.stop()

with st.spinner("Computing curves and derivatives…"):
    view = gallery.build_view(new_state)
for who, message in view.errors.items():
    where = "Your formula" if who == "custom" else activations.get(who).label
    st.error(f"{where}: {message}")

st.plotly_chart(view.figure, key="gallery_chart", config={"displaylogo": False})

st.subheader("Properties")
st.dataframe(view.table, hide_index=True)
st.caption("Measured numerically over the whole real line (x in [-1000, 1000]). Saturating: "
           "f′(x) → 0 as x → +∞ (right) or −∞ (left). Smoothness C0: continuous with a corner; "
           "C1: continuous slope; C2+: at least twice continuously differentiable. Cost: forward "
           "time per element relative to ReLU, measured on this server.")

st.download_button("Download plotted curves (CSV)", gallery.curves_csv(view.curves),
                   file_name="actviz_curves.csv", mime="text/csv", key="g_download",
                   on_click="ignore")

st.subheader("Formulas")
for c in view.choices:
    st.markdown(f"**{c.label}**")
    if c.is_custom:
        st.code(c.formula(), language=None)
    else:
        st.latex(c.formula())
    st.caption(c.description())
