"""Main area of the training lab: the session's jobs, live progress and charts, results."""

from __future__ import annotations

import streamlit as st

from actviz.errors import InputError
from actviz.plots import training_figures
from actviz.training.jobs import FINISHED, JobManager, JobSnapshot, JobStatus
from actviz.views import training_lab

STATUS_TEXT = {JobStatus.QUEUED: "waiting in the queue", JobStatus.RUNNING: "training", JobStatus.DONE: "finished",
               JobStatus.CANCELLED: "stopped", JobStatus.FAILED: "failed"}
# Chart groups of a job, as the page's switch names them.
VIEWS = {"Loss and accuracy": "curves", "Gradient norms": "grad_norms", "Decision boundary": "boundary"}


def job_picker(manager: JobManager, token: str) -> JobSnapshot | None:
    """The session's jobs as a selector; returns the selected one (newest by default)."""
    mine = manager.jobs_for(token)
    if not mine:
        st.info("No training jobs yet. Choose a preset or your own settings in the sidebar and press "
                "**Start training**.")
        return None
    ids = [j.id for j in mine]
    wanted = st.session_state.get("t_selected_job")
    if wanted not in ids:
        wanted = ids[-1]
    # Status stays out of the label: it changes while the job runs, the label must not.
    labels = {j.id: f"#{n + 1}: {', '.join(r.label for r in j.runs)[:70]} on {j.config.dataset.name}"
              for n, j in enumerate(mine)}
    choice = st.selectbox("Your jobs", ids, index=ids.index(wanted), format_func=labels.get, key="t_job_pick")
    st.session_state.t_selected_job = choice
    return next(j for j in mine if j.id == choice)


def live_panel(manager: JobManager, token: str, job_id: str) -> None:
    """Status, progress bars and charts of one job; polled while it runs."""
    job = manager.snapshot(job_id, token)
    if job is None:
        st.warning("This job is no longer available (finished jobs are kept for a limited time).")
        return
    _status_line(manager, token, job)
    metric_tabs(job)
    if job.status in FINISHED and st.session_state.get("t_seen_finished") != job.id:
        # One full rerun when a job finishes: stops the polling and draws the results section.
        st.session_state.t_seen_finished = job.id
        st.rerun(scope="app")


def _status_line(manager: JobManager, token: str, job: JobSnapshot) -> None:
    cols = st.columns([4, 1])
    if job.status == JobStatus.QUEUED:
        cols[0].info(f"Waiting in the queue: position {job.queue_position}. It starts as soon as a worker is free.")
    elif job.status == JobStatus.FAILED:
        cols[0].error(f"The job failed: {job.error}")
    elif job.status == JobStatus.RUNNING:
        others = job.watchers - 1
        shared = f" (shared with {others} other session(s) running the same setup)" if others else ""
        cols[0].markdown(f"**Training**{shared}")
    else:
        cols[0].markdown(f"**{STATUS_TEXT[job.status].capitalize()}.**")
    if job.status not in FINISHED and cols[1].button("Stop", key=f"t_stop_{job.id}", type="secondary",
                                                    width="stretch"):
        try:
            st.toast(manager.cancel(job.id, token))
        except InputError as exc:
            st.error(str(exc))
    for r in job.runs:
        text = f"{r.label}: {r.status}"
        if r.history:
            last = r.history[-1]
            text += f" — epoch {last.epoch}, test accuracy {last.test_acc:.1%}"
        st.progress(min(max(r.progress, 0.0), 1.0), text=text)
        if r.status == "diverged":
            st.warning(f"{r.label} diverged: {r.message}")


def metric_tabs(job: JobSnapshot) -> None:
    # One view at a time (not st.tabs): only the charts on screen are built and sent on every poll.
    labels = list(VIEWS)
    view = st.segmented_control("Show", labels, key="t_view", default=labels[0],
                                label_visibility="collapsed") or labels[0]
    chart = VIEWS[view]
    figs = training_lab.live_figures(job, chart)
    config = {"displaylogo": False}
    if chart == "curves":
        for col, fig, (metric, _, _) in zip(st.columns(3), figs, training_figures.METRICS, strict=True):
            col.plotly_chart(fig, key=f"t_chart_{metric}", config=config)
    elif chart == "grad_norms":
        st.plotly_chart(figs[0], key="t_chart_grad", config=config)
        st.caption("Mean L2 norm of each Linear layer's weight gradient during each epoch. Rows that "
                   "fade towards the input are vanishing gradients.")
    elif figs:
        st.plotly_chart(figs[0], key="t_chart_boundary", config=config)
    else:
        st.caption("Decision boundaries are drawn for the 2-D datasets (moons, circles, xor, spiral, gaussian).")
