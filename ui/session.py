"""Who is this browser, and the process-wide job manager.

A Streamlit session ends when the browser reloads, but a student's jobs must survive a reload, and
every tab of one browser is one student (the per-session job cap must not grow with the tabs).  The
owner of jobs is therefore a token **issued by this server** (:mod:`actviz.training.tokens`: random and
signed), kept in a cookie that every tab of the browser sends.  A token this server did not issue —
a forged cookie, a made-up ``?s=`` in a link — is replaced, never adopted.  The page address carries
no token, so a copied link shares the setup, never the jobs.  A signed ``?s=`` is still read (links
written by older versions of the app, and tests without cookies).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from actviz import budget
from actviz.training import jobs, tokens

COOKIE = "actviz_session"
COOKIE_DAYS = 30


class _Browsers:
    """Which Streamlit sessions (browser tabs) have carried each token, to tell closed from idle."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_token: dict[str, set[str]] = {}

    def add(self, token: str, session_id: str) -> None:
        with self.lock:
            self.by_token.setdefault(token, set()).add(session_id)

    def alive(self, token: str) -> bool:
        if not Runtime.exists():
            return False
        runtime = Runtime.instance()
        with self.lock:
            ids = {s for s in self.by_token.get(token, ()) if runtime.is_active_session(s)}
            if ids:
                self.by_token[token] = ids
            else:
                self.by_token.pop(token, None)
        return bool(ids)

    def session_alive(self, session_id: str) -> bool:
        return Runtime.exists() and Runtime.instance().is_active_session(session_id)


@st.cache_resource(show_spinner=False)
def _browsers() -> _Browsers:
    return _Browsers()


@st.cache_resource(show_spinner=False)
def job_manager() -> jobs.JobManager:
    """One manager per server process, shared by every session; its workers start warm."""
    manager = jobs.manager()
    manager.liveness = _browsers().alive
    manager.warm()
    return manager


def remember_browser() -> None:
    """Note that this tab carries this session's token (called on every run of every page)."""
    token = st.session_state.get("actviz_token")
    ctx = get_script_run_ctx()
    if token and ctx is not None:
        _browsers().add(token, ctx.session_id)


def _from_browser() -> str | None:
    """A server-issued token the browser sent (its cookie, else a signed ``?s=``), or None."""
    try:
        cookie = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this session (AppTest, bare mode)
        cookie = None
    if tokens.verify(cookie):
        return cookie
    from_url = st.query_params.get("s")
    return from_url if tokens.verify(from_url) else None


def _set_cookie(token: str) -> None:
    """Give every tab of this browser the token (the cookie is sent when a tab connects)."""
    st.html(f"""<script>document.cookie = "{COOKIE}={token}; path=/; max-age={COOKIE_DAYS * 86400}; SameSite=Strict"
            + (location.protocol === "https:" ? "; Secure" : "");</script>""", unsafe_allow_javascript=True)


def session_token() -> str:
    """This browser's token (issued here on its first visit); sets the cookie once per session."""
    token = st.session_state.get("actviz_token")
    if token is None:
        token = _from_browser() or tokens.issue()
        st.session_state.actviz_token = token
    if "s" in st.query_params:  # never leave a token in the shareable address
        del st.query_params["s"]
    # The script that sets the cookie is drawn on every run of a session whose browser connected without
    # it, not once: a second run that reaches the browser before the first run's output is mounted (a
    # click right after the page appears) replaced a once-only script before it ran, and a reload then
    # lost the jobs.  (The cookies a session sees are those sent when it connected.)
    try:
        sent = st.context.cookies.get(COOKIE)
    except Exception:
        sent = None
    if sent != token:
        _set_cookie(token)
    remember_browser()
    return token


def in_worker(fn: Callable[..., Any], args: tuple[Any, ...], estimate: budget.Estimate) -> Any:
    """``fn(*args)`` in a worker process of the job manager (after its budget check), for this tab.

    While it computes, the wait checks ten times a second whether the tab is still there and, twice a
    second, writes a progress line — the point where Streamlit delivers a rerun or a stop (a new
    setting, a closed tab).  Either ends the wait, and the worker computing is killed and replaced.
    """
    ctx = get_script_run_ctx()
    session_id = ctx.session_id if ctx is not None else None
    slot = st.empty()
    ticks = [0]

    def interrupt() -> None:
        ticks[0] += 1
        if session_id is not None and Runtime.exists() and not _browsers().session_alive(session_id):
            st.stop()  # the tab has gone
        if ticks[0] % 5 == 0:
            slot.caption(f"Computing in a worker process… {ticks[0] / 10:.1f} s")

    result = job_manager().run_task(fn, args, estimate, interrupt)
    slot.empty()
    return result
