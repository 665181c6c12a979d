"""Main area of the training lab: the job picker and the live panel (race strip, controls, charts and the
network view), laid out for a projector: at 1280×720 the live charts are on screen after Start."""

from __future__ import annotations

import html
import json
import time

import streamlit as st

from actviz.plots import training_figures
from actviz.plots.curve_figures import colour
from actviz.training.jobs import FINISHED, JobManager, JobSnapshot, JobStatus
from actviz.views import lab_jobs, learned, network_view, training_lab
from ui.boundary import guard
from ui.text import escape
from ui.training_controls import control_row, replay_state
from ui.training_learned import learned_charts
from ui.training_netview import network_panel

CONFIG = {"displaylogo": False}
# Chart groups beside the network view (2-D data) or across the page.
VIEWS = {"Loss & accuracy": "curves", "Test loss": "test_loss", "Gradients": "grad_norms",
         "Boundaries": "boundary"}
LEARNED = "Learned"  # offered when an activation parameter is learned
POLL_S = 0.5        # live refresh with a network view: two a second (its target)
POLL_CHARTS_S = 1.0  # charts only: once a second (thirty students polling cost half as much)


def job_picker(manager: JobManager, token: str) -> JobSnapshot | None:
    """The session's jobs, newest last; the one just started is selected (the page sets ``t_job_pick``)."""
    mine = manager.jobs_for(token)
    if not mine:
        st.info("No training jobs yet. Choose a preset or your own settings in the sidebar and press "
                "**Start training**.")
        return None
    labels = lab_jobs.job_labels(mine)
    ids = [j.id for j in mine]
    wanted = st.session_state.pop("t_job_want", None)  # a job a control just started (see training_controls)
    if wanted in ids:
        st.session_state.t_job_pick = wanted
    if st.session_state.get("t_job_pick") not in ids:
        st.session_state.t_job_pick = ids[-1]
    chosen = st.session_state.t_job_pick
    st.selectbox("Your jobs", ids, key="t_job_pick", format_func=lambda i: labels[i][0],
                 label_visibility="collapsed", help=labels[chosen][1])
    _whole_on_hover({short: whole for short, whole in labels.values()})
    return next(j for j in mine if j.id == st.session_state.t_job_pick)


def _whole_on_hover(whole: dict[str, str]) -> None:
    """Hovering the picker, or one of its options, shows the whole label of a job whose label was cut:
    a small script sets their ``title`` (labels are JSON with '<' escaped, so no text can end the script)."""
    data = json.dumps(whole).replace("<", "\\u003c")
    st.html(f"""<script>(() => {{
      window.__avWhole = {data};
      const apply = () => {{
        const w = window.__avWhole || {{}};
        const box = document.querySelector('.st-key-t_job_pick');
        const input = box && box.querySelector('input');
        if (box && input) box.title = w[input.value] || input.value;
        document.querySelectorAll('[role="option"]').forEach(o => {{
          const t = o.innerText.trim(); if (w[t]) o.title = w[t]; }});
      }};
      apply();
      if (!window.__avWholeObserver) {{
        window.__avWholeObserver = new MutationObserver(apply);
        window.__avWholeObserver.observe(document.body, {{childList: true, subtree: true}});
      }}
    }})();</script>""", unsafe_allow_javascript=True)


def poll_interval(job: JobSnapshot) -> float | None:
    """How often the live panel refreshes: twice a second while training or replaying, never once finished."""
    live = POLL_S if network_view.unsupported(job.config) is None else POLL_CHARTS_S
    if replay_state(job.id) is not None:
        return live
    if job.status in FINISHED:
        return None
    return 2.0 if job.status == JobStatus.QUEUED else live


def live_panel(manager: JobManager, token: str, job_id: str, polled: bool = False) -> None:
    """Status, controls, race strip and charts of one job: a fragment polled while the job runs or replays
    (its own error boundary, since a fragment's reruns do not pass through app.py's), drawn by the page run
    itself once there is nothing to poll (``place_live_panel``); ``polled``: drawn by the fragment."""
    with guard("This job's progress"):
        _live_panel(manager, token, job_id, polled)


def place_live_panel(manager: JobManager, token: str, job: JobSnapshot) -> None:
    """The live panel, polled only while there is something to poll.

    A finished job's panel is drawn by the page run, not by a fragment: with Streamlit 1.67 a fragment poll
    that reaches the server while the page run drawing the results is still being sent makes the server
    drop that run's fragment output, and the browser then loses its place in the page (the Results heading
    overwritten, or "Cannot set a node at a delta path" and a page that never shows the results).  With no
    fragment on the page, such a stale poll finds nothing to run.
    """
    every = poll_interval(job)
    if every is None:
        live_panel(manager, token, job.id)
    else:
        st.fragment(live_panel, run_every=every)(manager, token, job.id, polled=True)


def _live_panel(manager: JobManager, token: str, job_id: str, polled: bool) -> None:
    job = manager.snapshot(job_id, token)
    if job is None:
        st.warning("This job is no longer available (finished jobs are kept for a limited time).")
        return
    shown, replaying = _replayed(job)
    if polled and job.status in FINISHED and not replaying:
        # The job has finished (or its replay has ended): a page run draws the results and places the panel
        # without a fragment, which stops the polling.  Asked at every poll until one does: a page run can be
        # lost (replaced by a newer one), and a student was then left polling a finished job, no results.
        # Asked before drawing: the page run draws the finished panel anyway, and drawing it here too (the
        # trained network's view above all) cost each student ~0.2 s of the web process as a class finished.
        st.rerun(scope="app")
    control_row(manager, token, job, shown, replaying)
    race_strip(shown)
    two_d = network_view.unsupported(job.config) is None and job.status != JobStatus.QUEUED
    if two_d:
        left, right = st.columns([1.12, 1], gap="small")
        with left:
            network_panel(manager, token, job, shown)
        with right:
            charts(shown, stacked=True)
    else:
        charts(shown, stacked=False)


def _replayed(job: JobSnapshot) -> tuple[JobSnapshot, bool]:
    replay = replay_state(job.id)
    if replay is None:
        return job, False
    started, duration = replay
    frame = lab_jobs.replay_frame(job, time.time() - started, duration)
    if frame >= lab_jobs.replay_epochs(job):
        st.session_state.pop("t_replay", None)
        return job, False
    return lab_jobs.replayed(job, frame), True


def race_strip(job: JobSnapshot) -> None:
    """One compact chip per run: its colour, name, epoch, accuracy, how it ended, and a bar that ends where
    the run ended (five full-width progress bars used to fill a projector's screen)."""
    chips = []
    for i, (col, text, frac, status, hover) in enumerate(lab_jobs.chips(job)):
        chips.append(f'<div class="av-chip" title="{html.escape(hover)}" data-run="{i}" data-progress="{frac:.4f}" '
                     f'data-status="{html.escape(status)}">'
                     f'<span class="av-sw" style="background:{colour(col)}"></span>{html.escape(text)}'
                     f'<div class="av-bar"><div style="width:{100 * frac:.1f}%;background:{colour(col)}"></div>'
                     f'</div></div>')
    st.html('<div class="av-strip">' + "".join(chips) + "</div>")
    for r in job.runs:
        if lab_jobs.run_status(r) in ("diverged", "failed") and r.message:
            st.warning(f"{escape(r.label)}: {escape(r.message)}")


def charts(job: JobSnapshot, stacked: bool) -> None:
    labels = list(VIEWS) if stacked else [v for v in VIEWS if v != "Test loss"]
    if learned.learns(job.config):
        labels.append(LEARNED)
    view = st.segmented_control("Show", labels, key="t_view", default=labels[0],
                                label_visibility="collapsed") or labels[0]
    if view == LEARNED and LEARNED in labels:
        learned_charts(job, stacked)
        return
    chart = VIEWS.get(view, "curves")
    if chart == "test_loss" and not stacked:
        chart = "curves"
    if chart in ("curves", "test_loss"):
        height = (200 if chart == "curves" else 400) if stacked else 300
        figs = training_lab.live_figures(job, "curves", height)
        metrics = training_figures.metrics_for(training_lab.task_of(job.config))
        by_metric = {m: f for (m, _, _), f in zip(metrics, figs, strict=True)}
        score = metrics[-1][0]  # test accuracy, or test R² for regression
        wanted = list(by_metric) if not stacked else ["train_loss", score] if chart == "curves" else ["test_loss"]
        places = [st.container() for _ in wanted] if stacked else st.columns(len(wanted))
        for place, metric in zip(places, wanted):
            place.plotly_chart(by_metric[metric], key=f"t_chart_{metric}", config=CONFIG)
    elif chart == "grad_norms":
        st.plotly_chart(training_lab.live_figures(job, "grad_norms", 150 if stacked else 260)[0], key="t_chart_grad",
                        config=CONFIG)
        st.caption("Mean L2 norm of each Linear layer's weight gradient during each epoch. Rows that "
                   "fade towards the input are vanishing gradients.")
    else:
        figs = training_lab.live_figures(job, "boundary", 150 if stacked else 300)
        if figs:
            st.plotly_chart(figs[0], key="t_chart_boundary", config=CONFIG)
        else:
            st.caption("Decision boundaries are drawn for the 2-D datasets (moons, circles, xor, spiral, gaussian).")
