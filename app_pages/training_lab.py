"""Training lab: race activations side by side in background jobs, live, and look inside the networks."""

from __future__ import annotations

import streamlit as st

from actviz.errors import InputError
from actviz.views import lab_jobs
from actviz.views.training_lab import config_from_form, same_setup, setup_notes
from ui.session import job_manager, session_token
from ui.text import escape
from ui.training_inside import load_checkpoint_panel, results_section
from ui.training_layout import preload_charts, projector_css
from ui.training_setup import describe_form, preset_note, render_setup
from ui.training_view import job_picker, place_live_panel

projector_css()
st.title("Training lab")

manager = job_manager()
token = session_token()
form = render_setup()  # None when the sidebar failed: its message is there, the jobs below still show
has_jobs = bool(manager.jobs_for(token))
# Shown only while there is no job (after Start the live panel needs the room), and drawn before the
# Start button: a placeholder filled after it is empty while a rerun is drawn, and the button jumped up
# and back under the pointer (on a busy server long enough for a click to land beside it).
INTRO = ("Train the same network with different activations from the same initial weights and watch them learn "
         "side by side. The address holds the setup: copy it to share the lesson (your jobs stay yours; they "
         "survive a reload of this page).")
intro = st.caption(INTRO) if not has_jobs else st.empty()  # one element either way: nothing moves

note = preset_note(form) if form else None
if note:
    title, explanation, fallback = note
    with st.expander(f"Preset: {title}", expanded=not has_jobs):
        st.info(f"**{title}** — {explanation}" + (f"\n\n⚠️ {fallback}" if fallback else ""))

start_col, pick_col = st.columns([1, 4], vertical_alignment="center")
if start_col.button("Start training", type="primary", key="t_start", width="stretch", disabled=form is None):
    try:
        job_id, attached = manager.submit(config_from_form(form), token)
        st.session_state.t_job_pick = job_id  # the picker shows the job just started
        lab_jobs.wait_for_first_point(manager, job_id, token)  # so this very rerun draws its first point
        st.session_state.pop("t_replay", None)
        if attached:
            st.toast("Someone already started exactly this setup: you are watching the same job.")
    except InputError as exc:
        st.error(f"Cannot start: {escape(exc)}")
with pick_col:
    job = job_picker(manager, token)
if job is None:
    preload_charts()
elif not has_jobs:  # started by this run
    intro.empty()
if form is None:
    st.caption("Fix the settings in the sidebar to start a job.")
elif job is None or not same_setup(form, job.config):
    st.caption(("Start trains: " if job is not None else "") + escape(describe_form(form)))
for line in setup_notes(form) if form else ():
    st.warning(escape(line), icon=":material/info:")

if job is not None:
    # The live panel sits alone in a container of its own.  When a fragment rerun queued behind a full rerun
    # starts before that run's output has been sent, Streamlit (1.67) drops the full run's fragment deltas;
    # the browser then removes the stale fragment block and closes the gap, and the fragment's next deltas
    # land on whatever came after it (the Results heading was overwritten).  Inside its own container the gap
    # closes there only; and once the job has finished the panel is no fragment at all (place_live_panel).
    with st.container(key="t_live"):
        place_live_panel(manager, token, job)
    results_section(manager, token, job)

with st.expander("Load a checkpoint"):
    load_checkpoint_panel()
