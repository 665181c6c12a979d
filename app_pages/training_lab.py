"""Training lab: race activations side by side in background jobs, live."""

from __future__ import annotations

import streamlit as st

from actviz.errors import InputError
from actviz.plots import training_figures
from actviz.training.jobs import FINISHED, JobStatus
from actviz.views import training_lab
from actviz.views.training_lab import config_from_form
from ui.session import job_manager, session_token
from ui.training_inside import inside_the_model, load_checkpoint_panel
from ui.training_setup import describe_form, render_setup
from ui.training_view import job_picker, live_panel

st.title("Training lab")
st.caption("Train the same network with different activations from the same initial weights and watch them "
           "learn side by side. Jobs run in the background: you can leave this page or reload it and come "
           "back to them (keep this page's address — it identifies your jobs).")

manager = job_manager()
token = session_token()
form = render_setup()

note = st.session_state.get("t_preset_note")
if note:
    title, explanation, fallback = note
    st.info(f"**{title}** — {explanation}" + (f"\n\n⚠️ {fallback}" if fallback else ""))

start_col, summary_col = st.columns([1, 4], vertical_alignment="center")
summary_col.caption(describe_form(form))
if start_col.button("Start training", type="primary", key="t_start", width="stretch"):
    try:
        config = config_from_form(form)
        job_id, attached = manager.submit(config, token)
        st.session_state.t_selected_job = job_id
        if attached:
            st.toast("Someone already started exactly this setup: you are watching the same job.")
    except InputError as exc:
        st.error(f"Cannot start: {exc}")

job = job_picker(manager, token)
if job is not None:
    # Poll every second while training; a queued job only changes its place in the queue.
    interval = None if job.status in FINISHED else (2.0 if job.status == JobStatus.QUEUED else 1.0)
    st.fragment(live_panel, run_every=interval)(manager, token, job.id)

    if job.status in FINISHED and any(r.history for r in job.runs):
        st.subheader("Results")
        st.dataframe(training_figures.results_table(job.runs), hide_index=True,
                     column_config={"test accuracy": st.column_config.NumberColumn(format="percent"),
                                    "best val accuracy": st.column_config.NumberColumn(format="percent"),
                                    "dead neurons": st.column_config.NumberColumn(format="percent"),
                                    "s / epoch": st.column_config.NumberColumn(format="%.3f")})
        st.caption("Test accuracy of each net at its best epoch (highest validation accuracy), as the UvA Deep "
                   "Learning tutorial 3 reloads its best checkpoint. Dead neurons: hidden units whose output is "
                   "exactly 0 for every training sample.")
        c1, c2 = st.columns(2)
        c1.download_button("Download all metrics (CSV)", training_lab.metrics_csv(job),
                           file_name=f"actviz_metrics_{job.id[:6]}.csv", mime="text/csv",
                           key="t_dl_csv", on_click="ignore")
        with c2:
            runs = [i for i, r in enumerate(job.runs) if r.history]
            pick = st.selectbox("Trained model", runs, format_func=lambda i: job.runs[i].label, key="t_ckpt_run")
            model = manager.model(job.id, token, pick)
            if model is not None:
                st.download_button("Download checkpoint (.zip: state dict + JSON config)",
                                   training_lab.checkpoint_bytes(job, pick, model),
                                   file_name=training_lab.file_stem(job, pick) + ".zip",
                                   mime="application/zip", key="t_dl_ckpt", on_click="ignore")
        inside_the_model(manager, token, job)

with st.expander("Load a checkpoint"):
    load_checkpoint_panel()
