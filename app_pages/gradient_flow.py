"""Gradient flow: per-layer weight gradients, activation outputs and dead neurons of a net at initialisation."""

from __future__ import annotations

import streamlit as st

from actviz.errors import InputError
from actviz.views import gradient_flow as gf
from actviz.views.gradient_flow import GRADIENT_FLOW
from actviz.views.lessons import GRADIENT_PRESETS
from ui.gradient_flow import apply_preset, load_widgets, render_sidebar
from ui.urlsync import state_from_link, sync_query_params

st.title("Gradient flow")
st.caption("Build a feed-forward network, run one batch forward and backward, and look inside: how large each "
           "layer's weight gradients are, what the activations output, which units are dead. Every activation "
           "starts from the same initial weights (same seed), so the differences come from the activation alone. "
           "The page address keeps every setting.")

first_visit = "gf_state" not in st.session_state
state = state_from_link(GRADIENT_FLOW, "gf_state", lambda qp: gf.decode_gradient(qp, GRADIENT_PRESETS))
if first_visit:
    load_widgets(state, overwrite=False)
    if state.preset:
        st.session_state.gf_preset = state.preset
        st.session_state.gf_preset_state = GRADIENT_PRESETS[state.preset].state_for(state.dataset)

st.markdown("**Presets** — one click reproduces a lesson from a published tutorial or course:")
cols = st.columns(len(GRADIENT_PRESETS))
for col, (pkey, preset) in zip(cols, GRADIENT_PRESETS.items()):
    col.button(preset.title, key=f"gf_preset_{pkey}", on_click=apply_preset, args=(pkey,), width="stretch",
               type="primary" if st.session_state.get("gf_preset") == pkey else "secondary")

state = render_sidebar(state)
st.session_state.gf_state = state
sync_query_params(gf.encode_gradient(state))

try:
    with st.spinner("One forward and one backward pass per activation, then counting dead units…"):
        view = gf.cached_view(state)  # the server's data directory; never a path typed by a visitor
except InputError as exc:
    st.error(str(exc))
    st.stop()

for token, message in view.errors.items():
    where = "Your formula" if token == "custom" else gf.token_label(token)
    st.error(f"{where}: {message}")
for note in view.notes:
    st.caption(note)

preset_key = st.session_state.get("gf_preset")
preset = GRADIENT_PRESETS.get(preset_key) if preset_key else None
chart_col, text_col = st.columns([3, 1]) if preset else (st.container(), None)
chart_col.plotly_chart(view.figures["norms"], key="gf_norms", config={"displaylogo": False})
if preset and text_col is not None:
    with text_col:
        st.markdown(f"#### {preset.title}")
        st.markdown(preset.explanation)
        st.markdown(f"**What you should see.** {preset.lesson}")
        note = st.session_state.get("gf_preset_note")
        if note:
            st.warning(note)
        preset_state = st.session_state.get("gf_preset_state")
        if preset_state is not None and gf.same_settings(preset_state, state):
            ok, outcome = preset.check(view.comparison, view.symmetry)
            (st.success if ok else st.warning)(("Measured: " if ok else "Not as expected: ") + outcome)
        else:
            st.caption("You changed settings since loading this preset: the explanation refers to the preset.")
        st.caption(f"Reproduces an experiment of {preset.source}.")
else:
    st.caption("Read it from right (output) to left (input): a line that falls towards the input means "
               "vanishing gradients; crosses on the dotted line mean no gradient at all.")

st.dataframe(view.table, hide_index=True, column_config={
    column: st.column_config.NumberColumn(format=fmt) for column, fmt in gf.SUMMARY_FORMATS.items()})
st.caption(f"{view.dataset}. Batch of {view.comparison.batch_size:,} training samples drawn with the seed; "
           "gradients are the real weight.grad after one backward pass (no optimizer step). Dead units: output "
           f"exactly 0 for all {view.comparison.train_samples:,} training samples.")

st.subheader("Gradient distribution per layer")
st.plotly_chart(view.figures["grad_hist"], key="gf_grad_hist", config={"displaylogo": False})
st.caption("Share of the layer's weights whose gradient magnitude falls in each bin; the bins are powers of "
           "2 on a shared log axis, so a shift to the left is a shrinking gradient (the figure of the UvA Deep "
           "Learning tutorial 3, on log-spaced bins).")

if "act_hist" in view.figures:
    st.subheader("Activation outputs")
    st.plotly_chart(view.figures["act_hist"], key="gf_act_hist", config={"displaylogo": False})
    st.subheader("Dead and saturated units")
    st.plotly_chart(view.figures["neurons"], key="gf_neurons", config={"displaylogo": False})
    st.caption(f"Saturated: the activation's slope |f′(z)| (autograd) is below ε = {state.eps:g} for that sample "
               "and unit. A dead unit is silent (exactly 0) for every training sample, so its incoming weights "
               "never get a gradient.")

if "symmetry" in view.figures:
    st.subheader("Symmetry after training")
    st.plotly_chart(view.figures["symmetry"], key="gf_symmetry", config={"displaylogo": False})
    for s in view.symmetry:
        spread = max((layer.row_spread for layer in s.layers), default=0.0)
        verdict = "all hidden units identical" if s.all_identical else "units differ"
        st.markdown(f"- **{s.label}**, {s.init.label}: {verdict} after {s.steps} steps (largest difference "
                    f"between two units' weights {spread:.2g}); training accuracy {s.train_accuracy:.0%}.")

st.download_button("Download all numbers (JSON)", gf.view_json(view), file_name="actviz_gradients.json",
                   mime="application/json", key="gf_download", on_click="ignore")
