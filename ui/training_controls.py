"""The training lab's job controls: Pause, Resume, Step (one epoch), Reset (same seed, start over), Stop, the
learning rate while a job runs, and on a finished race Run again and Replay at the class's pace; a job a server
restart interrupted also offers Resume from its last saved epoch (or says why it cannot).

Every verb goes through the job manager (``pause``, ``resume``, ``step``, ``set_lr``, ``cancel``,
``submit(…, fresh=True)``); a verb the manager does not offer yet is shown disabled with a reason.
Buttons change session state in callbacks (allowed before any widget is drawn) and ask for one full
rerun when the job picker must move to a new job.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from actviz import limits
from actviz.errors import InputError
from actviz.training.jobs import FINISHED, JobManager, JobSnapshot, JobStatus
from actviz.views import lab_jobs
from ui.text import escape

PACES = (10, 30, 60, 120)  # seconds a replay lasts


def replay_state(job_id: str) -> tuple[float, float] | None:
    """(wall-clock start, duration) of this job's replay, if one is playing."""
    replay = st.session_state.get("t_replay")
    if replay and replay[0] == job_id:
        return replay[1], replay[2]
    return None


def _say(message: Any) -> None:
    st.session_state.t_ctl_message = str(message)


def _verb(manager: JobManager, verb: str, job_id: str, token: str, *args: Any) -> None:
    try:
        _say(getattr(manager, verb)(job_id, token, *args) or "")
    except InputError as exc:
        _say(f"⚠️ {exc}")


def _select(job_id: str) -> None:
    """Show ``job_id`` in the picker after one full rerun.  Not by setting the picker's own key here: a
    poll the browser sent with the click carries the picker's old value, and when that request is merged
    into the full rerun its value wins over one set in a callback (1 Reset in 10 kept showing the old job).
    The full run's script sets the picker from ``t_job_want`` after the browser's values are applied."""
    st.session_state.t_job_want = job_id
    st.session_state.t_full_rerun = True


def submit_fresh(manager: JobManager, job: JobSnapshot, token: str) -> str | None:
    """Train ``job``'s setup again as a new job (never attached to an old one)."""
    try:
        try:
            new_id, _ = manager.submit(job.config, token, fresh=True)
        except TypeError:  # a manager without fresh=: attaching rules apply
            new_id, _ = manager.submit(job.config, token)
    except InputError as exc:
        _say(f"⚠️ {exc}")
        return None
    _select(new_id)
    lab_jobs.wait_for_first_point(manager, new_id, token)  # the rerun after the click shows its first point
    return new_id


def _reset(manager: JobManager, job: JobSnapshot, token: str) -> None:
    try:
        manager.cancel(job.id, token)
    except InputError:
        pass
    if submit_fresh(manager, job, token):
        _say("Started over: same setup, same seed, same initial weights.")


def _run_again(manager: JobManager, job: JobSnapshot, token: str) -> None:
    if submit_fresh(manager, job, token):
        _say("Running the race again as a new job; the finished one stays in the list.")


def _resume_interrupted(manager: JobManager, job: JobSnapshot, token: str) -> None:
    try:
        new_id, _ = manager.resume_interrupted(job.id, token)
    except InputError as exc:
        _say(f"⚠️ {exc}")
        return
    _select(new_id)
    lab_jobs.wait_for_first_point(manager, new_id, token)
    _say(f"Going on from epoch {job.resume_epoch} as a new job; the interrupted one stays in the list.")


def _replay(job_id: str) -> None:
    st.session_state.t_replay = (job_id, time.time(), float(st.session_state.get("t_replay_pace", 30)))
    st.session_state.t_full_rerun = True


def _stop_replay() -> None:
    st.session_state.pop("t_replay", None)


def _set_lr(manager: JobManager, job_id: str, token: str, key: str, current: float) -> None:
    value = float(st.session_state[key])
    # Streamlit can call on_change for a box nobody touched (the browser's first report of a value the
    # script preset), often as the race ends: that sent set_lr to a finished job and a toast said "the job
    # is not training" over the results.  Only a changed value is a command.
    if value != current:
        _verb(manager, "set_lr", job_id, token, value)


def control_row(manager: JobManager, token: str, job: JobSnapshot, shown: JobSnapshot, replaying: bool) -> None:
    """One row: what the job is doing, and the buttons that apply to it now."""
    if st.session_state.pop("t_full_rerun", False):
        st.rerun(scope="app")
    paused = bool(lab_jobs.snapshot_attr(job, "paused", False))
    finished = job.status in FINISHED
    # A finished race has three controls, each given the room of its label: in a sixth of the row
    # "Run again" and "Replay" broke mid-word at 150 % zoom.
    epoch = lab_jobs.snapshot_attr(job, "resume_epoch", None) if job.status == JobStatus.INTERRUPTED else None
    resumable = epoch is not None and callable(getattr(manager, "resume_interrupted", None))
    widths = [2.2, 1.6, 1.3, 1.5, 1.0] if finished and not replaying else [2.3, 1, 1, 1, 1, 1.5]
    status, *cells = st.columns([2.0, 1.9, 1.4, 1.2, 1.0] if resumable else widths, vertical_alignment="center",
                                gap="small")
    status.markdown(_status_text(job, shown, paused, replaying))
    if replaying:
        cells[0].button("Stop replay", key=f"t_replay_stop_{job.id}", on_click=_stop_replay, width="stretch")
    elif finished:
        if resumable:  # Resume first; Run again, Replay and the pace move one cell right
            cells.pop(0).button(f"Resume from epoch {epoch}", key=f"t_resume_{job.id}", type="primary",
                                width="stretch", on_click=_resume_interrupted, args=(manager, job, token),
                                help="Go on training from the last epoch saved before the restart, as a new job "
                                     "(the same history as if it had never stopped).")
        cells[0].button("Run again", key=f"t_again_{job.id}", type="secondary" if resumable else "primary",
                        width="stretch",
                        on_click=_run_again, args=(manager, job, token),
                        help="Train the same setup again as a new job (same seed, so the same race)."
                        if job.status != JobStatus.INTERRUPTED else "Start this setup again from the beginning, "
                        "as a new job (same seed, so the same race).")
        cells[1].button("Replay", key=f"t_replay_go_{job.id}", width="stretch", on_click=_replay, args=(job.id,),
                        disabled=not any(r.history for r in job.runs),
                        help="Play this finished race again from its recorded epochs, at the pace on the right.")
        cells[2].selectbox("Replay over", PACES, key="t_replay_pace", index=1, format_func=lambda s: f"{s} s",
                           label_visibility="collapsed")
    else:
        has = {verb: callable(getattr(manager, verb, None)) for verb in ("pause", "resume", "step", "set_lr")}
        why = "needs a job manager with pause/resume/step (not available on this server)"
        if paused:
            cells[0].button("Resume", key=f"t_ctl_resume_{job.id}", type="primary", width="stretch",
                            on_click=_verb, args=(manager, "resume", job.id, token), disabled=not has["resume"])
        else:
            cells[0].button("Pause", key=f"t_ctl_pause_{job.id}", width="stretch", disabled=not has["pause"],
                            on_click=_verb, args=(manager, "pause", job.id, token), help=None if has["pause"] else why)
        cells[1].button("Step", key=f"t_ctl_step_{job.id}", width="stretch", disabled=not has["step"],
                        on_click=_verb, args=(manager, "step", job.id, token),
                        help="Train one more epoch, then pause." if has["step"] else why)
        cells[2].button("Reset", key=f"t_ctl_reset_{job.id}", width="stretch", on_click=_reset,
                        args=(manager, job, token), help="Stop this job and start the same setup over: same seed, "
                                                         "same initial weights.")
        cells[3].button("Stop", key=f"t_ctl_stop_{job.id}", width="stretch", on_click=_verb,
                        args=(manager, "cancel", job.id, token), help="Stop training; the results so far are kept.")
        if has["set_lr"] and job.status == JobStatus.RUNNING:
            key = f"t_ctl_lr_{job.id}"
            lr_now = float(lab_jobs.snapshot_attr(job, "lr", job.config.lr))
            if key not in st.session_state:
                st.session_state[key] = lr_now
            cells[4].number_input("learning rate now", *limits.LR_RANGE, format="%.4g", key=key,
                                  on_change=_set_lr, args=(manager, job.id, token, key, lr_now),
                                  label_visibility="collapsed",
                                  help="Change the learning rate while the job trains; it applies from the next step.")
    note = lab_jobs.snapshot_attr(job, "resume_note", None) if job.status == JobStatus.INTERRUPTED else None
    if note and not replaying:
        st.caption(f"Cannot resume: {escape(note)}.")
    message = st.session_state.pop("t_ctl_message", None)
    if message:
        st.toast(escape(message))


def _status_text(job: JobSnapshot, shown: JobSnapshot, paused: bool, replaying: bool) -> str:
    done = max((len(r.history) for r in shown.runs), default=0)
    if replaying:
        return f"**Replaying** · epoch {done}/{lab_jobs.replay_epochs(job)}"
    if job.status == JobStatus.QUEUED:
        return f"**Waiting in the queue** · position {job.queue_position}"
    if job.status == JobStatus.FAILED:
        return f"**Failed:** {escape(job.error)}"
    if job.status == JobStatus.INTERRUPTED:  # "interrupted by a server restart after 3 of 20 epochs; start it again"
        said = job.error or "interrupted by a server restart"
        rest = said.removeprefix("interrupted ")
        return f"**Interrupted** {escape(rest)}" if rest != said else f"**Interrupted:** {escape(said)}"
    word = lab_jobs.describe_status(job, paused).capitalize()
    lr = lab_jobs.snapshot_attr(job, "lr", None)
    extra = f" · lr {lr:g}" if isinstance(lr, (int, float)) and lr != job.config.lr else ""
    others = job.watchers - 1
    shared = f" · shared with {others} other session(s)" if others > 0 and not job.status.finished else ""
    note = f" · {escape(job.error)}" if job.status == JobStatus.DONE and job.error else ""  # e.g. a model file gone
    resumed = lab_jobs.snapshot_attr(job, "resumed_from", None)
    went_on = f" · resumed from epoch {resumed}" if resumed else ""
    return f"**{word}** · epoch {done}/{job.config.epochs}{went_on}{extra}{shared}{note}"
