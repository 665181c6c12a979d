"""A teacher's lesson link locks or hides controls on every page (``lock=``, ``hide=``, ``keep=``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.app.helpers import assert_clean, open_page
from ui import locks


def test_names_are_parsed_leniently_and_safely():
    assert locks.parse_names("act, LR,,all,act") == ["act", "lr", "all"]
    assert locks.parse_names(["x", "lr"]) == ["lr"]  # Streamlit hands repeated keys as lists: the last wins
    assert locks.parse_names("a<script>,lr,../x") == ["lr"]
    assert locks.parse_names(None) == []


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_any_lock_value_resolves_without_error(raw):
    for page in ("gallery", "gradient-flow", "training-lab", "home"):
        resolved = locks.resolve(page, {"lock": raw, "hide": raw[::-1]})
        rules = locks.css(resolved)
        assert "<" not in rules and rules.count("{") == rules.count("}") == rules.count("\n") + bool(rules)


def test_controls_are_the_pages_link_keys_plus_named_buttons():
    lab = locks.controls("training-lab")
    assert lab["lr"] == ("t_lr",) and lab["act"] == ("t_act",) and lab["bias"] == ("t_bias", "t_bias_on")
    assert "start" in lab and "controls" in lab
    gallery = locks.controls("gallery")
    assert gallery["xmin"] == ("g_xmin",) and gallery["eparams"] == ("g_eparams", "g_cp_*")
    assert locks.controls("gradient-flow")["preset"] == ("gf_preset_*",)


def test_all_with_keep_leaves_only_what_the_lesson_varies():
    resolved = locks.resolve("training-lab", {"hide": "all", "keep": "lr,start"})
    assert "lr" not in resolved.hidden and "start" not in resolved.hidden
    assert {"act", "opt", "hidden", "preset"} <= set(resolved.hidden)
    both = locks.resolve("training-lab", {"lock": "lr,act", "hide": "act"})
    assert set(both.locked) == {"lr"} and set(both.hidden) == {"act"}  # hidden wins
    params = locks.resolve("gallery", {"lock": "swish.beta"})
    assert params.locked["swish.beta"] == ("g_p_swish_beta", "g_l_swish_beta")


def test_css_greys_locked_and_hides_hidden_widgets_by_their_key_class():
    rules = locks.css(locks.resolve("training-lab", {"lock": "lr", "hide": "controls"}))
    assert ".st-key-t_lr { pointer-events: none; opacity: 0.55; }" in rules
    assert '[class*="st-key-t_ctl_"] { display: none !important; }' in rules
    assert locks.css(locks.resolve("training-lab", {})) == ""


def test_the_lesson_link_keeps_the_setup_and_drops_the_private_token():
    link = locks.lesson_link("http://host:8501/training-lab?old=1", {"lr": "0.05", "s": "secret-token", "lock": "x"},
                             ["lr", "act"], ["opt"])
    assert link == "http://host:8501/training-lab?lr=0.05&lock=lr,act&hide=opt"


def test_a_locked_gallery_control_snaps_back_to_the_lesson_value():
    at = open_page("app_pages/gallery.py", {"act": "swish", "xmin": "-2", "lock": "xmin"})
    assert_clean(at)
    assert at.session_state["g_xmin"] == pytest.approx(-2.0)
    at.session_state["g_xmin"] = -7.0  # a student changes it anyway (keyboard, devtools)
    at.run()
    assert_clean(at)
    assert at.session_state["g_xmin"] == pytest.approx(-2.0)
    assert any("Fixed by this lesson" in c.value and "x from" in c.value for c in at.sidebar.caption)
    at.session_state["g_xmax"] = 3.0  # what the lesson leaves open still changes
    at.run()
    assert at.session_state["g_xmax"] == pytest.approx(3.0)
    assert any(".st-key-g_xmin" in h.proto.body for h in at.get("html"))


def test_a_locked_lab_setting_stays_while_the_preset_button_changes_the_rest():
    at = open_page("app_pages/training_lab.py", {"lr": "0.05", "lock": "lr"})
    assert_clean(at)
    at.selectbox(key="t_preset_choice").set_value("moons-sigmoid").run()
    at.button(key="t_load_preset").click().run()
    assert_clean(at)
    assert at.session_state["t_hidden"] == "5"  # the preset loaded
    assert at.session_state["t_lr"] == pytest.approx(0.05)  # but the lesson's learning rate stays
    assert "lesson_lock" not in at.session_state  # no lesson panel for students


def test_without_locks_the_teacher_gets_the_lesson_panel():
    at = open_page("app_pages/gradient_flow.py")
    assert_clean(at)
    at.multiselect(key="lesson_lock").set_value(["act", "seed"]).run()
    code = [c.value for c in at.sidebar.code]
    assert code and "lock=act,seed" in code[-1]
