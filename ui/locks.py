"""A teacher's lesson link: ``lock=`` and ``hide=`` name controls students may not change, on every page.

``?…&lock=act,lr`` greys out the activation picker and the learning rate (students see the values, cannot
change them); ``hide=opt,batch`` removes controls altogether; ``all`` names every control of the page
and ``keep=`` lists exceptions (``hide=all&keep=lr``: students see only the learning rate).  Control
names are the page's link keys (``act``, ``lr``, ``xmin`` …: the same table that writes the link names
the widget, ``{prefix}{key}``), activation parameters as ``swish.beta``, plus a few named buttons per
page (``preset``, ``start``, ``controls`` …).

Generic: app.py calls :func:`apply` before every page and :func:`capture` after it; pages only give
their widgets keys.  A locked widget is pinned to the value it had when the lesson link was first
opened (reset on every run, so a keyboard change does not stick either) and drawn greyed out by CSS
on Streamlit's ``st-key-<key>`` class; a hidden one is not displayed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from actviz.views.gallery import GALLERY
from actviz.views.gradient_flow import GRADIENT_FLOW
from actviz.views.training_lab import TRAINING_LAB
from actviz.views.urlstate import PageState, first
from ui.text import escape

QUERY_KEYS = ("lock", "hide", "keep")
ALL = "all"
_NAME = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,39}$")
MAX_NAMES = 64

# Controls that are not fields of a page's link: name -> widget keys ("…*" matches a key prefix).
EXTRA: dict[str, dict[str, tuple[str, ...]]] = {
    "gallery": {},
    "gradient-flow": {"preset": ("gf_preset_*",), "variants": ("gf_var_*",)},
    "training-lab": {"preset": ("t_preset_choice", "t_load_preset"), "start": ("t_start",),
                     "controls": ("t_ctl_*",), "lr_now": ("t_ctl_lr*",), "replay": ("t_replay*", "t_again*"),
                     "upload": ("t_csv_file", "t_label_column"), "checkpoint": ("t_ckpt_*", "t_dl_*"),
                     "jobs": ("t_job_pick",), "netview": ("t_nv_*",), "lesson": ("lesson_*",)},
}
PAGES: dict[str, PageState[Any]] = {"gallery": GALLERY, "gradient-flow": GRADIENT_FLOW, "training-lab": TRAINING_LAB}
LABELS = {"act": "activations", "lr": "learning rate", "opt": "optimizer", "mom": "momentum", "batch": "batch size",
          "epochs": "epochs", "hidden": "hidden layers", "data": "dataset", "n": "samples", "noise": "noise",
          "dseed": "data seed", "seed": "seed", "init": "weight init", "bias": "constant bias", "es": "early stopping",
          "patience": "patience", "expr": "custom formula", "eparams": "custom formula's parameters",
          "max": "max training samples", "xmin": "x from", "xmax": "x to", "d2": "second derivative",
          "layout": "layout", "shade": "saturation shading", "eps": "saturation threshold", "custom": "own formula",
          "preset": "presets",
          "variants": "parameter variants", "start": "Start button", "controls": "Pause / Resume / Step / Reset / Stop",
          "lr_now": "learning rate while training", "replay": "Run again / Replay", "upload": "CSV upload",
          "checkpoint": "checkpoints", "jobs": "job picker", "netview": "network view pickers",
          "lesson": "this lesson-link panel"}


def parse_names(raw: Any) -> list[str]:
    """``"act, lr,,ALL"`` -> ``["act", "lr", "all"]``: well-formed names only (anything else is ignored)."""
    text = first(raw)
    if not text:
        return []
    out: list[str] = []
    for token in text[:2000].split(","):
        name = token.strip().lower()
        if _NAME.match(name) and name not in out:
            out.append(name)
    return out[:MAX_NAMES]


def controls(url_path: str) -> dict[str, tuple[str, ...]]:
    """Every lockable control of a page: name -> widget-key patterns."""
    page = PAGES.get(url_path)
    out: dict[str, tuple[str, ...]] = {}
    if page is not None:
        for f in page.fields:
            key = page.prefix + f.key
            out[f.key] = (key, key + "_on") if f.key == "bias" else (key,)
        if any(f.key == "expr" for f in page.fields):  # a custom formula: its parameter sliders too
            out["eparams"] = (page.prefix + "eparams", page.prefix + "cp_*")
    out.update(EXTRA.get(url_path, {}))
    return out


def _param_keys(page: PageState[Any] | None, name: str) -> tuple[str, ...]:
    """``swish.beta`` -> the parameter slider ``{prefix}p_swish_beta`` (and its 'learn' box in the lab)."""
    if page is None or "." not in name:
        return ()
    act, _, param = name.partition(".")
    return (f"{page.prefix}p_{act}_{param}", f"{page.prefix}l_{act}_{param}")


@dataclass
class Locks:
    url_path: str
    locked: dict[str, tuple[str, ...]] = field(default_factory=dict)   # name -> widget-key patterns
    hidden: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.locked or self.hidden)

    def patterns(self) -> list[str]:
        return [p for pats in (*self.locked.values(), *self.hidden.values()) for p in pats]

    def pinned(self, key: str) -> bool:
        """Whether ``key`` is a locked or hidden *value* widget (a field or parameter, not a button)."""
        extras = {p for pats in EXTRA.get(self.url_path, {}).values() for p in pats}
        return any(_matches(p, key) for p in self.patterns() if p not in extras)


def _matches(pattern: str, key: str) -> bool:
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


def resolve(url_path: str, query: Mapping[str, Any]) -> Locks:
    """Which controls of the page ``query`` locks and hides (unknown names are ignored)."""
    table = controls(url_path)
    page = PAGES.get(url_path)
    keep = set(parse_names(query.get("keep")))

    def pick(names: list[str]) -> dict[str, tuple[str, ...]]:
        chosen: dict[str, tuple[str, ...]] = {}
        for name in names:
            if name == ALL:
                chosen.update({n: p for n, p in table.items() if n not in keep})
            elif name in table and name not in keep:
                chosen[name] = table[name]
            elif name not in keep and _param_keys(page, name):
                chosen[name] = _param_keys(page, name)
        return chosen

    hidden = pick(parse_names(query.get("hide")))
    locked = {n: p for n, p in pick(parse_names(query.get("lock"))).items() if n not in hidden}
    return Locks(url_path, locked, hidden)


def css(locks: Locks) -> str:
    """Style rules greying out locked widgets and hiding hidden ones (by Streamlit's ``st-key-`` class)."""

    def selector(pattern: str) -> str:
        return f'[class*="st-key-{pattern[:-1]}"]' if pattern.endswith("*") else f".st-key-{pattern}"

    rules = []
    grey = [selector(p) for pats in locks.locked.values() for p in pats]
    gone = [selector(p) for pats in locks.hidden.values() for p in pats]
    if grey:
        rules.append(", ".join(grey) + " { pointer-events: none; opacity: 0.55; }")
    if gone:
        rules.append(", ".join(gone) + " { display: none !important; }")
    return "\n".join(rules)


def apply(url_path: str) -> Locks:
    """Before a page runs: pin locked widgets to their lesson values and style them."""
    locks = resolve(url_path, st.query_params.to_dict())
    if not locks.active:
        return locks
    pinned: dict[str, Any] = st.session_state.setdefault("_lesson_pins", {}).setdefault(url_path, {})
    for key, value in pinned.items():
        st.session_state[key] = value
    st.html(f"<style>{css(locks)}</style>")
    names = [LABELS.get(n, n) for n in (*locks.locked, *locks.hidden)]
    st.sidebar.caption("🔒 Fixed by this lesson: " + escape(", ".join(names[:12])) + ("…" if len(names) > 12 else ""))
    return locks


def capture(locks: Locks) -> None:
    """After a page ran: remember the value of every locked widget not pinned yet (its lesson value).
    Buttons and uploaders (the named extras) are only greyed out or hidden: they hold no value."""
    if not locks.active:
        return
    pinned = st.session_state.setdefault("_lesson_pins", {}).setdefault(locks.url_path, {})
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key not in pinned and locks.pinned(key):
            pinned[key] = st.session_state[key]


def lesson_link(base_url: str, query: Mapping[str, Any], lock: list[str], hide: list[str]) -> str:
    """The page's current address with ``lock=``/``hide=`` set (and never the private session token)."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    params = {k: first(v) for k, v in query.items() if k not in (*QUERY_KEYS, "s") and first(v) is not None}
    if lock:
        params["lock"] = ",".join(lock)
    if hide:
        params["hide"] = ",".join(hide)
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params, safe=",."), ""))


def lesson_panel(url_path: str, locks: Locks) -> None:
    """A sidebar box where a teacher picks what students may not change and copies the lesson link."""
    table = controls(url_path)
    if locks.active or not table:
        return
    with st.sidebar.expander("Share as a lesson", icon=":material/lock:"):
        st.caption("The address already holds every setting. Pick what students may not change, then copy the link.")
        names = list(table)
        lock = st.multiselect("Students see these but cannot change them", names, key="lesson_lock",
                              format_func=lambda n: LABELS.get(n, n))
        hide = st.multiselect("Hidden from students", [n for n in names if n not in lock], key="lesson_hide",
                              format_func=lambda n: LABELS.get(n, n))
        try:
            base = str(st.context.url or "")
        except Exception:  # outside a browser session (tests): a relative link
            base = ""
        st.code(lesson_link(base or f"/{url_path}", st.query_params.to_dict(), lock, hide), language=None,
                wrap_lines=True)
