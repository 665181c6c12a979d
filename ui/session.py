"""Who is this browser, and the process-wide job manager.

A Streamlit session ends when the browser reloads, but a student's jobs must survive a reload.  The
training lab therefore identifies its owner by a random token kept in the page address (``?s=``),
unguessable and never shown to other sessions; a reload keeps the address and finds the jobs again.
"""

from __future__ import annotations

import re
import secrets
import threading

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from actviz.training import jobs

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


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


@st.cache_resource(show_spinner=False)
def _browsers() -> _Browsers:
    return _Browsers()


@st.cache_resource(show_spinner=False)
def job_manager() -> jobs.JobManager:
    """One manager per server process, shared by every session."""
    manager = jobs.manager()
    manager.liveness = _browsers().alive
    return manager


def remember_browser() -> None:
    """Note that this tab carries this session's token (called on every run of every page)."""
    token = st.session_state.get("actviz_token")
    ctx = get_script_run_ctx()
    if token and ctx is not None:
        _browsers().add(token, ctx.session_id)


def session_token() -> str:
    token = st.session_state.get("actviz_token")
    if token is None:
        from_url = st.query_params.get("s")
        token = from_url if isinstance(from_url, str) and _TOKEN.match(from_url) else secrets.token_urlsafe(16)
        st.session_state.actviz_token = token
    if st.query_params.get("s") != token:
        st.query_params["s"] = token
    remember_browser()
    return token
