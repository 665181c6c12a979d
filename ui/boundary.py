"""The pages' error boundary: what goes wrong in one part of a page is said there, in plain words, and
the rest of the page (the user's jobs above all) is still drawn.

``run_page`` wraps every page (app.py runs each page through it); ``guard`` wraps a part of a page that
must not take the parts after it down (the training lab's settings, jobs and checkpoint panel each get
one).  An :class:`InputError` shows its message; any other exception is a bug: the page says so in one
sentence and the traceback goes to the server log (never to the browser).  Streamlit's own control
flow (``st.stop``, ``st.rerun``) derives from BaseException and passes through.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import streamlit as st

from actviz.errors import InputError
from ui.text import escape

LOG = logging.getLogger("actviz.pages")
# Tests look for this phrase: a page that shows it has hit a bug.
INTERNAL_ERROR = "an internal error"


def internal_error_message(what: str, exc: BaseException) -> str:
    return (f"{what} could not be shown because of {INTERNAL_ERROR} ({type(exc).__name__}); the rest of the page "
            "still works. The details are in the server log.")


@contextlib.contextmanager
def guard(what: str = "This part of the page") -> Iterator[None]:
    """Run the body; an exception in it becomes one message in its place (see the module docstring)."""
    try:
        yield
    except InputError as exc:
        st.error(escape(str(exc)) or "That input was not accepted.")
    except Exception as exc:  # noqa: BLE001 - the boundary: a bug is reported, the page goes on
        LOG.exception("%s failed", what)
        st.error(escape(internal_error_message(what, exc)))


def run_page(page: Any) -> None:
    """Run the current page's script inside the boundary (called by app.py)."""
    with guard("This page"):
        page.run()
