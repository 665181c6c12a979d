"""Hypothesis settings shared by the fuzz tests of every user-input boundary.

Each target names its own example count (``FUZZ[...]``, listed in the README's hardening section) so
the whole suite stays fast; the runs are derandomised (the same cases on every machine, so CI never
fails on a case nobody can replay) and keep no example database in the checkout.
``ACTVIZ_FUZZ_SCALE=10`` multiplies every count for a deeper local run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("ACTVIZ_FUZZ_SCALE", "1") or 1))

# Examples per target (the README's hardening table lists these).
FUZZ = {
    "links": 300,            # per page: random query mappings
    "links_hostile": 150,    # per page: markdown / control characters / huge values on real keys
    "formula_text": 400,     # arbitrary strings up to the length limit
    "formula_grammar": 200,  # strings built from the formula grammar (most compile)
    "csv_bytes": 200,        # random bytes
    "csv_tables": 200,       # random tables with odd headers and values
    "checkpoint": 200,       # mutated valid checkpoints
    "env": 300,              # ACTVIZ_* values
    "escape": 500,           # the markdown escaper
}

_BASE = dict(deadline=None, derandomize=True, database=None, print_blob=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def examples(target: str) -> settings:
    """The settings of one fuzz target (its example count times ACTVIZ_FUZZ_SCALE)."""
    return settings(max_examples=FUZZ[target] * SCALE, **_BASE)
