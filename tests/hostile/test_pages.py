"""The pages under hostile input (AppTest): every message is plain text, a failure in one part of a page
is said there and the rest — the user's jobs above all — stays on screen."""

from __future__ import annotations

import json

import pytest

from tests.app.helpers import assert_clean, open_page, shown
from tests.app.test_training_lab import poll_until_finished, start
from tests.hostile.markdown_oracle import assert_inert
from tests.hostile.test_checkpoints import CONFIG, with_config
from ui.boundary import INTERNAL_ERROR

GALLERY = "app_pages/gallery.py"
LAB = "app_pages/training_lab.py"
LINK = "[Login here](https://ev.il)"
IMAGE = "![t](http://127.0.0.1:9/a.png)"


def inert_parts(body: str) -> str:
    """An error the page writes as ``{escaped file name}: {escaped message}``: both parts inert."""
    name, sep, message = body.partition(": ")
    return assert_inert(name) + sep + assert_inert(message)


def assert_inert_or_markdown(body: str) -> str:
    """A warning body is our Markdown list around escaped items: check every item is inert."""
    head, _, items = body.partition("\n\n")
    return head + " " + " ".join(assert_inert(line.removeprefix("- ")) for line in items.split("\n") if line)


@pytest.mark.parametrize("payload", [LINK, IMAGE])
def test_a_markdown_link_in_the_gallery_address_shows_as_text(payload):
    at = open_page(GALLERY, {"act": payload})
    assert_clean(at)
    (warning,) = at.warning
    assert payload in assert_inert_or_markdown(warning.value)


def test_a_formula_error_quoting_markdown_shows_as_text():
    at = open_page(GALLERY, {"custom": "1", "expr": "x + [Login](ev.il)", "eparams": ""})
    assert_clean(at)
    (error,) = [e.value for e in at.error]
    assert error.startswith("Your formula: ")
    assert "'[Login](ev.il)'" in assert_inert(error.removeprefix("Your formula: "))


def test_a_bug_in_the_gallery_view_is_reported_and_the_sidebar_stays(monkeypatch):
    from actviz.views import gallery

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(gallery, "build_view", broken)
    at = open_page(GALLERY)
    assert not at.exception
    assert any(INTERNAL_ERROR in e.value and "ZeroDivisionError" in e.value for e in at.error)
    assert at.title[0].value == "Activation gallery" and at.multiselect(key="g_act").value


def _lab_with_a_job():
    at = open_page(LAB)
    at = start(at, t_data="moons", t_act=["relu"], t_hidden="4", t_epochs=2, t_seed=3)
    return poll_until_finished(at)


def _jobs_visible(at) -> bool:
    return any(s.label == "Your jobs" for s in at.selectbox)


def test_a_csv_with_huge_values_stays_explained_on_every_rerun_and_the_jobs_stay():
    at = _lab_with_a_job()
    rows = "\n".join(f"{'1e308' if i == 0 else i},{i % 3},{i % 2}" for i in range(30))
    at.session_state["t_data"] = "csv"
    at.run()
    at.file_uploader(key="t_csv_file").set_value(("huge [x](https://ev.il).csv", f"f,g,label\n{rows}\n".encode(),
                                                   "text/csv")).run()
    for _ in range(3):  # the bad file stays in the uploader: every rerun shows the same message
        assert_clean(at)
        (error,) = [e.value for e in at.error]
        assert "rescale" in error and inert_parts(error).startswith("huge [x](https://ev.il).csv: column")
        assert _jobs_visible(at) and any("Results" in h.value for h in at.subheader)
        at.run()


def test_a_bug_in_the_lab_sidebar_keeps_the_jobs_on_screen(monkeypatch):
    at = _lab_with_a_job()
    from ui import training_setup

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(training_setup, "_render_setup", broken)
    at.run()
    assert not at.exception
    assert any(INTERNAL_ERROR in e.value for e in at.error)
    assert _jobs_visible(at) and at.button(key="t_start").disabled


@pytest.mark.parametrize("section, value", [("result", [1]), ("dataset", "moons"), ("result", {"test_acc": "x"})])
def test_a_checkpoint_with_sections_of_the_wrong_type_loads_on_the_page(section, value):
    at = open_page(LAB)
    data = with_config({**CONFIG, section: value})
    at.file_uploader(key="t_ckpt_upload").set_value(("c.zip", data, "application/zip")).run()
    assert_clean(at)
    assert any("Loaded a 2-4-3-1 network" in s.value for s in at.success)


def test_a_refused_checkpoint_names_the_file_as_text():
    at = open_page(LAB)
    name = f"{IMAGE}.zip"
    at.file_uploader(key="t_ckpt_upload").set_value((name, with_config("[" * 200_000), "application/zip")).run()
    assert_clean(at)
    (error,) = [e.value for e in at.error]
    assert inert_parts(error).startswith(name + ": ") and "nested too deeply" in error


def test_inside_the_trained_models_of_a_job_with_a_diverged_run():
    at = open_page(LAB)
    at = start(at, t_data="moons", t_act=["relu"], t_expr="0/0*x", t_hidden="4", t_epochs=2, t_seed=3)
    poll_until_finished(at)
    assert_clean(at)
    # Closed, the section computes nothing (a whole class reruns a finished job's page); opened, it shows.
    assert not any(c.value.startswith("Histograms") for c in at.caption)
    at.session_state["t_inside_open"] = True
    at.run()
    assert_clean(at)
    notes = [c.value for c in at.caption if "is not shown" in c.value]
    assert len(notes) == 1 and "diverged" in notes[0]
    assert any(c.value.startswith("Histograms") for c in at.caption)  # the ReLU net is still shown
    table = at.table[-1].value  # the inside-the-model table (an st.table: full labels, "—" where empty)
    assert json.loads(table.to_json(orient="records"))[1]["note"].startswith("not shown")


def test_markdown_inside_a_checkpoint_is_shown_as_text_in_its_table():
    at = open_page(LAB)
    config = {**CONFIG, "written": IMAGE, "dataset": {"name": LINK}, "result": {"status": "**b** :red[x]"},
              "training": {"optimizer": "a@ev.il"}}
    at.file_uploader(key="t_ckpt_upload").set_value(("c.zip", with_config(config), "application/zip")).run()
    assert_clean(at)
    cells = [assert_inert(v) for v in at.table[0].value["in this file"]]
    assert IMAGE in " ".join(cells) and LINK in " ".join(cells) and "**b** :red[x]" in cells


HUGE_HEX = "0x" + "f" * 290 + "*x"


@pytest.mark.parametrize("page, query", [
    ("app_pages/gallery.py", {"custom": "1", "expr": HUGE_HEX, "eparams": ""}),
    ("app_pages/gradient_flow.py", {"custom": "1", "expr": HUGE_HEX, "eparams": "", "data": "moons",
                                    "hidden": "4"}),
])
def test_a_huge_literal_in_a_link_is_an_error_message_not_an_exception(page, query):
    at = open_page(page, query)
    assert_clean(at)
    assert any("at most" in shown(e.value) for e in at.error), [shown(e.value) for e in at.error]


def test_a_huge_literal_in_a_lab_link_is_refused_when_starting():
    at = open_page(LAB, {"expr": HUGE_HEX, "data": "moons", "hidden": "4", "epochs": "1"})
    assert_clean(at)
    at.button(key="t_start").click().run()
    assert_clean(at)
    assert any(shown(e.value).startswith("Cannot start") and "at most" in shown(e.value) for e in at.error)
