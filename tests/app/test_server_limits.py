"""The shared server as pages show it: budgets refused with the knob named, server-issued tokens only,
one job cap per browser however many tabs it opens (AppTest)."""

from __future__ import annotations

import pytest

from actviz import limits
from actviz.training import tokens
from tests.app.helpers import assert_clean, open_page, shown

LAB = "app_pages/training_lab.py"
FLOW = "app_pages/gradient_flow.py"


@pytest.fixture
def small_budget(monkeypatch):
    monkeypatch.setattr(limits, "_current", limits.Limits(max_job_memory_mb=300, max_job_minutes=5))


def start(at, **values):
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    at.button(key="t_start").click().run()
    assert_clean(at)
    return at


def test_the_lab_refuses_a_job_over_the_memory_budget_naming_the_knob(small_budget):
    at = start(open_page(LAB), t_data="digits", t_act=["relu", "tanh"], t_hidden="2048x4", t_epochs=2)
    errors = [shown(e.value) for e in at.error]
    assert any("Cannot start" in e and "ACTVIZ_MAX_JOB_MEMORY_MB" in e and "smaller network" in e
               for e in errors), errors
    assert not at.get("selectbox") or all(s.key != "t_job_pick" for s in at.selectbox)  # nothing was queued


def test_the_lab_refuses_a_job_over_the_time_budget_naming_the_knob(small_budget):
    at = start(open_page(LAB), t_data="digits", t_act=["relu", "tanh", "gelu"], t_hidden="512x4", t_epochs=1000)
    errors = [shown(e.value) for e in at.error]
    assert any("ACTVIZ_MAX_JOB_MINUTES" in e and "fewer epochs" in e for e in errors), errors


def test_the_gradient_flow_page_refuses_a_computation_over_budget_naming_the_knob(small_budget):
    at = open_page(FLOW, {"data": "moons", "n": "100000", "batch": "65536", "hidden": "4096x20", "act": "sigmoid"})
    assert_clean(at)
    errors = [shown(e.value) for e in at.error]
    assert any("ACTVIZ_MAX_JOB_MEMORY_MB" in e for e in errors), errors


def test_a_token_the_server_did_not_issue_is_replaced_never_adopted():
    first = open_page(LAB, {"s": "classroom-link-0001"})
    second = open_page(LAB, {"s": "classroom-link-0001"})
    for at in (first, second):
        assert_clean(at)
        token = at.session_state["actviz_token"]
        assert token != "classroom-link-0001" and tokens.verify(token)
        assert "s" not in at.query_params  # and the address carries no token at all
    assert first.session_state["actviz_token"] != second.session_state["actviz_token"]
    start(first, t_data="moons", t_act=["relu"], t_hidden="4", t_epochs=200, t_seed=31)
    second.run()
    assert not second.get("selectbox") or all(s.key != "t_job_pick" for s in second.selectbox), \
        "the second browser must not see the first one's job"
    _stop_all(first.session_state["actviz_token"])


def _stop_all(token: str) -> None:
    from actviz.training import jobs

    mgr = jobs.manager()
    for job in mgr.jobs_for(token):
        mgr.cancel(job.id, token)


def test_a_forged_token_with_a_signature_shape_is_replaced_too():
    real = tokens.issue()
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    at = open_page(LAB, {"s": forged})
    assert at.session_state["actviz_token"] not in (forged, real)


def test_every_tab_of_one_browser_shares_one_job_cap():
    tab = open_page(LAB)
    token = tab.session_state["actviz_token"]
    cap = limits.current().max_jobs_per_session
    tabs = [tab] + [open_page(LAB, {"s": token}) for _ in range(cap)]  # more tabs of the same browser
    for i, at in enumerate(tabs[:cap]):
        start(at, t_data="moons", t_act=["relu"], t_hidden="4", t_epochs=500, t_seed=100 + i)
        assert not at.error, [e.value for e in at.error]
    last = start(tabs[cap], t_data="moons", t_act=["relu"], t_hidden="4", t_epochs=500, t_seed=200)
    errors = [shown(e.value) for e in last.error]
    assert any("for all your tabs together" in e for e in errors), errors
    _stop_all(token)
