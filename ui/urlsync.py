"""The page address as the page's state: read once per session, written back after every change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import streamlit as st

from actviz.views.urlstate import PageState
from ui.text import escape

# Keys the address keeps whatever the page's state says: a teacher's lesson locks (ui/locks.py) and,
# until the session token moves out of the address, the training lab's ``s``.
KEPT = ("lock", "hide", "keep", "s")


def sync_query_params(encoded: Mapping[str, str]) -> None:
    """Make the address bar hold exactly ``encoded`` plus the kept keys (only writes when something changed)."""
    current = {k: (v[-1] if isinstance(v, list) else v) for k, v in st.query_params.to_dict().items()}
    wanted = {**dict(encoded), **{k: current[k] for k in KEPT if k in current}}
    if current != wanted:
        st.query_params.from_dict(wanted)


def show_warnings(warnings: Iterable[str], prefix: str = "Some settings in the link were not valid") -> None:
    items = list(warnings)
    if items:
        st.warning(prefix + " and were replaced by defaults:\n\n" + "\n".join(f"- {escape(w)}" for w in items),
                   icon="⚠️")


def state_from_link(page: PageState[Any], name: str, decode: Callable[[Mapping[str, Any]], tuple[Any, list[str]]]
                    | None = None) -> Any:
    """The page's state: decoded from the address on the session's first visit (its warnings kept to
    show), then whatever the page stored under ``name``.  On the first visit the widgets are seeded
    from the decoded state."""
    if name not in st.session_state:
        state, warnings = (decode or page.decode)(st.query_params.to_dict())
        st.session_state[name] = state
        st.session_state[name + "_warnings"] = warnings
        put_widgets(page, state, overwrite=False)
    show_warnings(st.session_state.get(name + "_warnings", []))
    return st.session_state[name]


def put_widgets(page: PageState[Any], state: Any, overwrite: bool) -> None:
    """Give every widget of ``page`` its value from ``state`` (only widgets without one, unless ``overwrite``)."""
    for key, value in page.widget_values(state).items():
        if overwrite or key not in st.session_state:
            st.session_state[key] = value
