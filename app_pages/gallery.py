"""Gallery: every activation with its autograd derivatives, properties and formulas."""

from __future__ import annotations

import streamlit as st

from actviz import activations
from actviz.views import gallery
from actviz.views.gallery import GALLERY, GalleryState
from actviz.views.tables import readable
from actviz.views.urlstate import with_params
from ui.text import escape
from ui.urlsync import state_from_link, sync_query_params
from ui.widgets import custom_formula, param_sliders

st.title("Activation gallery")
st.caption("Pick activations, drag their parameters and watch f(x) and its autograd derivative "
           "change. The page address keeps every setting: copy it to share this exact view.")

state: GalleryState = state_from_link(GALLERY, "gallery_state")
key = GALLERY.widget_key

with st.sidebar:
    st.header("Activations")
    selected = st.multiselect(
        "Activations to plot", activations.names(), key="g_act",
        format_func=lambda n: activations.get(n).label, max_selections=gallery.MAX_SELECTED,
        help="Each one is drawn with its derivative; add or remove freely.")
    param_values = {name: param_sliders(name, "g_p", state.param_values(name), expanded=True)[0]
                    for name in selected}
    morph_options = ["", *gallery.morph_options(selected)]
    if st.session_state.get(key("morph"), "") not in morph_options:
        st.session_state[key("morph")] = ""
    st.selectbox("Morph one parameter in the browser", morph_options, key=key("morph"),
                 format_func=lambda o: o or "off",
                 help="Computes the curves for the whole range of one parameter once; the chart's own slider "
                      "and ▶ Play then change it instantly, without asking the server.")

    st.header("Custom activation")
    custom_on = st.toggle("Add my own formula", key=key("custom_on"))
    custom_params_text = state.custom_params
    if custom_on:
        custom_params_text = custom_formula(
            "g_", state.custom_params,
            help="Use x, numbers, + - * / **, and functions such as exp, log, sqrt, abs, tanh, sigmoid, softplus, "
                 "erf, clamp, min, max, step, where, or any catalogue name (relu, gelu, …). Any other name becomes "
                 "a parameter with a slider.")

    st.header("View")
    c1, c2 = st.columns(2)
    xmin = c1.number_input("x from", -1000.0, 1000.0, step=1.0, key=key("xmin"))
    xmax = c2.number_input("x to", -1000.0, 1000.0, step=1.0, key=key("xmax"))
    st.toggle("Show second derivative f″", key=key("show_d2"))
    st.radio("Layout", gallery.LAYOUTS, key=key("layout"), horizontal=True,
             format_func={"overlay": "Overlay", "grid": "One panel each"}.get)
    shade = st.toggle("Shade saturated regions", key=key("shade"))
    st.slider("Saturated where |f′| <", 0.0, gallery.EPS_MAX, step=0.005, key=key("saturation_eps"),
              disabled=not shade)

new_state = GALLERY.from_widgets(st.session_state, state)
new_state.selected, new_state.custom_params = list(selected), custom_params_text
for name, values in param_values.items():
    new_state = with_params(new_state, name, values)
if xmin >= xmax:
    st.error(f"'x from' ({xmin:g}) must be below 'x to' ({xmax:g}); showing the previous range.")
    new_state.xmin, new_state.xmax = state.xmin, state.xmax
st.session_state.gallery_state = new_state
sync_query_params(GALLERY.encode(new_state))

# --- the view --------------------------------------------------------------------------------------
if not selected and not custom_on:
    st.info("Choose at least one activation in the sidebar (or add your own formula).")
    st.stop()

with st.spinner("Computing curves and derivatives…"):
    view = gallery.build_view(new_state)
for who, message in view.errors.items():
    where = "Your formula" if who == "custom" else activations.get(who).label
    st.error(f"{escape(where)}: {escape(message)}")

if view.morph is not None:
    st.plotly_chart(view.morph, key="gallery_morph", theme=None, config={"displaylogo": False})
    st.caption("Every frame was computed once by torch (autograd derivatives); dragging this chart's "
               "slider or pressing ▶ Play runs in your browser. The sidebar and the tables keep the "
               "sidebar's value.")
if view.curves and not view.morph_only:
    st.plotly_chart(view.figure, key="gallery_chart", config={"displaylogo": False})
if view.gated:
    st.subheader("Gated units: two inputs")
    st.caption("f(a, b) = act(a)·b takes two inputs: in a network each hidden layer computes both a and b "
               "(two projections), and a opens or shuts the gate on b. Left: the surface; middle: its "
               "contours with the gradient (∂f/∂a, ∂f/∂b) as arrows; right: the slice b = 1, which is the "
               "element-wise act(a) and its derivative.")
    for g in view.gated:
        st.plotly_chart(g.figure, key=f"gated_{g.choice.name}", config={"displaylogo": False})

st.subheader("Properties")
st.table(readable(view.table))  # HTML: headers and labels wrap, never cut; "—" where empty
st.caption("Measured numerically over the whole real line (x in [-1000, 1000]). Saturating: "
           "f′(x) → 0 as x → +∞ (right) or −∞ (left). Smoothness C0: continuous with a corner; "
           "C1: continuous slope; C2+: at least twice continuously differentiable.")
if view.costs is not None and not view.costs.empty:
    st.subheader("Cost: time and memory")
    st.table(readable(view.costs))
    st.caption(gallery.COST_METHOD)

st.download_button("Download plotted curves (CSV)", lambda: gallery.curves_csv(view.curves),  # made on click
                   file_name="actviz_curves.csv", mime="text/csv", key="g_download",
                   on_click="ignore")

st.subheader("Formulas")
for c in view.choices:
    st.markdown(f"**{escape(c.label)}**")
    if c.is_custom:
        formula = gallery.custom_math(c)
        if formula is not None:
            st.latex("f(x) = " + formula.latex)
            if formula.derivative_latex:
                st.latex("f'(x) = " + formula.derivative_latex)
            else:
                st.caption(f"{escape(formula.note.capitalize())}; the chart's f′ comes from autograd.")
        st.code(c.formula(), language=None)
    else:
        st.latex(c.formula())
    st.caption(c.description())
