"""Seed statistics: intervals against scipy, the margin verdict in words, bands over seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from actviz.training import stats
from actviz.training.config import EpochRecord


def test_the_t_table_is_scipys():
    for df in range(1, 31):
        assert stats.t975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=2, max_size=10))
def test_summaries_match_numpy_and_scipy(values):
    s = stats.summarize(values)
    assert s.n == len(values)
    assert s.mean == pytest.approx(np.mean(values), abs=1e-9)
    assert s.std == pytest.approx(np.std(values, ddof=1), abs=1e-9)
    lo, hi = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                                    scale=scipy_stats.sem(values)) if np.std(values) > 0 else (s.mean, s.mean)
    assert s.ci95[0] == pytest.approx(lo, abs=1e-6) and s.ci95[1] == pytest.approx(hi, abs=1e-6)


def test_missing_and_single_values():
    assert stats.summarize([]).mean is None
    one = stats.summarize([0.5, None, math.nan])
    assert one.n == 1 and one.mean == 0.5 and one.std is None and one.ci95 is None


def test_seed_summary_has_the_issue_keys_and_keeps_accuracy_intervals_in_range():
    finals = [{"test_acc": a, "test_loss": 0.3, "status": "done"} for a in (0.99, 1.0, 0.9)]
    s = stats.seed_summary(finals)
    assert s["seeds"] == 3 and s["test_acc_mean"] == pytest.approx(np.mean([0.99, 1.0, 0.9]))
    assert s["test_acc_std"] == pytest.approx(np.std([0.99, 1.0, 0.9], ddof=1))
    assert 0.0 <= s["test_acc_ci95"][0] <= s["test_acc_ci95"][1] == 1.0
    assert s["statuses"] == {"done": 3} and "test_r2_mean" not in s


def test_a_consistent_margin_is_beyond_seed_noise():
    v = stats.margin_verdict({"GELU": [0.95, 0.96, 0.955, 0.97], "ReLU": [0.93, 0.941, 0.935, 0.952],
                              "Sigmoid": [0.5, 0.5, 0.5, 0.5]})
    assert (v.leader, v.runner_up, v.n, v.beyond_noise) == ("GELU", "ReLU", 4, True)
    diffs = [0.02, 0.019, 0.02, 0.018]
    lo, hi = scipy_stats.t.interval(0.95, 3, loc=np.mean(diffs), scale=scipy_stats.sem(diffs))
    assert v.ci95 == pytest.approx((lo, hi)) and v.mean_diff == pytest.approx(np.mean(diffs))
    assert "beyond seed noise" in v.text and "GELU leads ReLU" in v.text


def test_a_margin_that_flips_with_the_seed_is_within_noise():
    v = stats.margin_verdict({"Tanh": [0.953, 0.94, 0.96], "GELU": [0.94, 0.953, 0.95]})
    assert v.beyond_noise is False and "within seed noise" in v.text and "includes 0" in v.text


def test_below_three_seeds_no_claim_is_made():
    v = stats.margin_verdict({"Tanh": [0.953, 0.96], "ReLU": [0.94, 0.941]})
    assert v.beyond_noise is None and "no claim" in v.text and "at least 3 seeds" in v.text
    assert stats.margin_verdict({"Tanh": [0.9]}).beyond_noise is None


def test_lower_is_better_for_losses():
    v = stats.margin_verdict({"a": [0.10, 0.11, 0.12], "b": [0.30, 0.31, 0.33]}, "test_loss", higher_is_better=False)
    assert v.leader == "a" and v.beyond_noise is True


def rec(epoch, acc):
    return EpochRecord(epoch, 0.5, acc, 0.5, acc, 0.5, acc, 0.0)


def test_bands_over_seeds_follow_the_seeds_that_reached_each_epoch():
    b = stats.band([[rec(1, 0.5), rec(2, 0.7)], [rec(1, 0.6)], [rec(1, 0.7), rec(2, 0.9)]], "test_acc")
    assert b.epochs == [1, 2] and b.n == [3, 2]
    assert b.mean == pytest.approx([0.6, 0.8]) and b.lo == [0.5, 0.7] and b.hi == [0.7, 0.9]
    assert b.std[0] == pytest.approx(np.std([0.5, 0.6, 0.7], ddof=1))
