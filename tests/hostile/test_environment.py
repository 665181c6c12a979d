"""Operating limits come from ``ACTVIZ_*`` variables: any value is used or ignored with a warning in the
server log (the default applies) — never an exception on a page, in the CLI or in a worker thread."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actviz import limits
from actviz.limits import LIMIT_MAX, Limits
from tests.hostile.fuzz import examples

NAMES = [f.name for f in dataclasses.fields(Limits)]
DEFAULTS = Limits()


def _env(name: str) -> str:
    return "ACTVIZ_" + name.upper()


def test_every_limit_has_a_largest_accepted_value():
    assert set(LIMIT_MAX) == set(NAMES)


# --- findings of issue 10, reproduced (and what main already did about them) -----------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("raw", ["inf", "-inf", "1e400", "Infinity", "nan", "1e15", "1e300", "0", "-3", "0.0",
                                 "ten", "", "   "])
def test_absurd_values_are_ignored_with_a_warning(name, raw, caplog):
    caplog.set_level(logging.WARNING, "actviz.limits")
    got = getattr(Limits.from_env({_env(name): raw}), name)
    assert got == getattr(DEFAULTS, name)
    if raw.strip():
        assert any(_env(name) in r.getMessage() and "using" in r.getMessage() for r in caplog.records)


def test_a_whole_number_limit_given_a_fraction_is_ignored_not_truncated(caplog):
    caplog.set_level(logging.WARNING, "actviz.limits")
    assert Limits.from_env({"ACTVIZ_MAX_UNITS": "2.5"}).max_units == DEFAULTS.max_units
    assert "whole number" in caplog.text
    assert Limits.from_env({"ACTVIZ_MAX_UNITS": "1e3"}).max_units == 1000  # integral: fine


def test_a_worker_idle_time_beyond_any_timer_is_refused():
    """time.sleep / Condition.wait overflow near 1e15 s: such a value would kill every worker thread."""
    assert Limits.from_env({"ACTVIZ_WORKER_IDLE_S": "1e15"}).worker_idle_s == DEFAULTS.worker_idle_s
    assert Limits.from_env({"ACTVIZ_JOB_TTL_S": str(LIMIT_MAX["job_ttl_s"])}).job_ttl_s == LIMIT_MAX["job_ttl_s"]


@pytest.mark.parametrize("raw", ["inf", "1e400"])
def test_the_cli_runs_with_infinite_limits_in_the_environment(raw):
    env = {**os.environ, **{_env(n): raw for n in NAMES}}
    out = subprocess.run([sys.executable, "-m", "actviz", "curve", "relu", "--points", "11", "--json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ignoring ACTVIZ_MAX_UNITS" in out.stderr and "Traceback" not in out.stderr


def test_every_page_renders_with_infinite_limits(monkeypatch):
    from tests.app.helpers import assert_clean, open_page

    for name in NAMES:
        monkeypatch.setenv(_env(name), "1e400")
    monkeypatch.setattr(limits, "_current", None)
    try:
        for page in ("app_pages/gallery.py", "app_pages/gradient_flow.py", "app_pages/training_lab.py"):
            at = open_page(page)
            assert_clean(at)
            assert not at.error, [e.value for e in at.error]
    finally:
        monkeypatch.undo()
        limits._current = None


# --- fuzzing ----------------------------------------------------------------------------------------

RAW = st.one_of(
    st.text(max_size=80),
    st.floats().map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["inf", "1e400", "NaN", "0x10", "1_000", "\u0661\u0662", " 4 ", "4\x00", "1e-400", "+7"]),
)


@examples("env")
@given(st.sampled_from(NAMES), RAW)
def test_any_value_is_a_valid_limit_or_the_default_with_a_warning(name, raw):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger("actviz.limits")
    log.addHandler(handler)
    try:
        got = getattr(Limits.from_env({_env(name): raw}), name)
    finally:
        log.removeHandler(handler)
    default = getattr(DEFAULTS, name)
    assert type(got) is type(default)
    assert math.isfinite(got) and 0 < got <= LIMIT_MAX[name]
    if raw.strip() and got == default and not _means(raw, default):
        assert any(_env(name) in r.getMessage() for r in records), raw
    if got != default:
        assert not records and _means(raw, got)


def _means(raw: str, value: float) -> bool:
    try:
        return float(raw.strip()) == value
    except ValueError:
        return False
