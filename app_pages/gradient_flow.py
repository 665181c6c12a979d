"""Gradient flow: per-layer weight gradients, activation outputs and dead neurons of a net at initialisation."""

from __future__ import annotations

import streamlit as st

from actviz.errors import InputError
from actviz.views import gradient_flow as gf
from actviz.views.gradient_flow import GRADIENT_FLOW
from actviz.views.lessons import GRADIENT_PRESETS, decode_gradient_link
from actviz.views.tables import readable
from ui.gradient_flow import load_widgets, pick_preset, render_sidebar, show_figure
from ui.session import in_worker
from ui.text import escape
from ui.urlsync import state_from_link, sync_query_params

st.title("Gradient flow")
st.caption("Build a network, run one batch forward and backward, and look inside: each layer's weight gradients, "
           "the activations' outputs, dead units. Every activation starts from the same initial weights. The page "
           "address keeps every setting.")

first_visit = "gf_state" not in st.session_state
state = state_from_link(GRADIENT_FLOW, "gf_state", decode_gradient_link)
if first_visit:
    load_widgets(state, overwrite=False)
    if state.preset:
        linked = GRADIENT_PRESETS[state.preset]
        st.session_state.gf_preset = st.session_state.gf_preset_pick = state.preset
        st.session_state.gf_preset_state = linked.state_for(state.dataset)
        st.session_state.gf_preset_note = linked.resolve()[1] if state.dataset != linked.prefer else None

# Pills wrap onto a second row when the page is narrow (or zoomed): every title stays whole.
st.pills("Presets — one click reproduces a lesson from a published tutorial or course", list(GRADIENT_PRESETS),
         format_func=lambda k: GRADIENT_PRESETS[k].title, key="gf_preset_pick", on_change=pick_preset)

state = render_sidebar(state)
st.session_state.gf_state = state
sync_query_params(gf.encode_gradient(state))

try:
    with st.spinner("One forward and one backward pass per activation, then counting dead units…"):
        view = gf.cached_view(state, run=in_worker)  # the server's data directory; never a visitor's path
except InputError as exc:
    st.error(escape(exc))
    st.stop()

for token, message in view.errors.items():
    where = "Your formula" if token == "custom" else gf.token_label(token)
    st.error(f"{escape(where)}: {escape(message)}")

preset = GRADIENT_PRESETS.get(st.session_state.get("gf_preset") or "")
preset_state = st.session_state.get("gf_preset_state")
as_preset = preset is not None and preset_state is not None and gf.same_settings(preset_state, state)
lead = preset.lead if preset is not None and preset.lead in view.figures else "norms"
asides = {key: aside(view.comparison, view.symmetry) for key, aside in preset.asides} if as_preset else {}

# The lesson first: its evidence, with the teacher's words beside it.
if preset is not None:
    chart_col, text_col = st.columns([3, 1])
    with chart_col:
        show_figure(view, lead, lead=True)
    with text_col:
        st.markdown(f"#### {preset.title}")
        if as_preset:
            ok, outcome = preset.check(view.comparison, view.symmetry)
            (st.success if ok else st.warning)(("Measured: " if ok else "Not as expected: ") + escape(outcome))
        else:
            st.caption("You changed settings since loading this preset: the explanation refers to the preset.")
        st.markdown(f"**What you should see.** {preset.lesson}")
        st.markdown(preset.explanation)
        note = st.session_state.get("gf_preset_note")
        if note:
            st.warning(note)
        st.caption(f"Reproduces an experiment of {preset.source}.")
else:
    show_figure(view, lead, lead=True)

if lead != "norms":
    show_figure(view, "norms", asides.get("norms"))

st.subheader("Summary")
st.table(readable(view.table, gf.SUMMARY_FORMATS))
st.caption(f"{escape(view.dataset)}. Batch of {view.comparison.batch_size:,} training samples drawn with the seed; "
           "gradients are the real weight.grad after one backward pass (no optimizer step). Dead units: output "
           f"exactly 0 for all {view.comparison.train_samples:,} training samples. — means not measured. "
           + " ".join(view.notes))

for name in ("grad_hist", "act_hist", "neurons", "symmetry"):
    if name in view.figures and name != lead:
        show_figure(view, name, asides.get(name))
if view.symmetry:
    for s in view.symmetry:
        spread = max((layer.row_spread for layer in s.layers), default=0.0)
        verdict = "all hidden units identical" if s.all_identical else "units differ"
        st.markdown(f"- **{escape(s.label)}**, {escape(s.init.label)}: {verdict} after {s.steps} steps (largest "
                    f"difference between two units' weights {spread:.2g}); training accuracy {s.train_accuracy:.0%}.")

st.download_button("Download all numbers (JSON)", gf.view_json(view), file_name="actviz_gradients.json",
                   mime="application/json", key="gf_download", on_click="ignore")
