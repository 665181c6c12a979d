"""The training lab driven as a person uses it (AppTest).

AppTest has no browser, so the page's ``run_every`` polling never fires: the tests poll explicitly by
rerunning the page until the job has finished, as the browser's timer would.
"""

from __future__ import annotations

import io
import time
import zipfile

import pandas as pd
import pytest

from actviz.network import checkpoint
from tests.app.helpers import assert_clean, figures, open_page

PAGE = "app_pages/training_lab.py"


def poll_until_finished(at, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert_clean(at)
        if any("Results" in h.value for h in at.subheader):
            return at
        time.sleep(0.3)
    raise AssertionError("the job did not finish in time: " + " | ".join(m.value for m in at.markdown))


def start(at, **values):
    for key, value in values.items():
        widget = at.session_state
        widget[key] = value
    at.run()
    at.button(key="t_start").click().run()
    assert_clean(at)
    return at


@pytest.fixture
def lab():
    at = open_page(PAGE)
    assert_clean(at)
    return at


def test_start_poll_and_read_the_results_table(lab):
    at = start(lab, t_data="moons", t_act=["relu", "tanh"], t_hidden="8", t_epochs=4, t_seed=11)
    poll_until_finished(at)
    table = at.dataframe[0].value
    assert set(table["activation"]) == {"ReLU", "Tanh"}
    assert (table["status"] == "done").all()
    assert table["test accuracy"].is_monotonic_decreasing
    assert (table["epochs run"] == 4).all()
    charts = figures(at)
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert {"Train loss", "Test loss", "Test accuracy"} <= set(titles)
    acc = next(c for c in charts if c["layout"]["title"]["text"] == "Test accuracy")
    epochs = [t for t in acc["data"] if (t.get("meta") or {}).get("series") == "test_acc"]
    assert len(epochs) == 2 and all(t["x"] == [1, 2, 3, 4] for t in epochs)


def test_the_job_survives_a_reload(lab):
    at = start(lab, t_data="moons", t_act=["gelu"], t_hidden="4", t_epochs=3, t_seed=12)
    token = at.query_params["s"]
    token = token[-1] if isinstance(token, list) else token
    poll_until_finished(at)
    again = open_page(PAGE, {"s": token})  # a new session with the same address
    assert_clean(again)
    assert any("GELU" in o for o in again.selectbox(key="t_job_pick").options)
    assert any("Results" in h.value for h in again.subheader)
    stranger = open_page(PAGE)
    assert not stranger.get("selectbox") or all(
        "GELU" not in o for s in stranger.selectbox if s.key == "t_job_pick" for o in s.options)


def test_presets_fill_the_form(lab):
    lab.selectbox(key="t_preset_choice").set_value("moons-sigmoid").run()
    lab.button(key="t_load_preset").click().run()
    assert_clean(lab)
    ss = lab.session_state
    assert ss["t_hidden"] == "5" and ss["t_opt"] == "sgd" and ss["t_lr"] == pytest.approx(0.2)
    assert ss["t_batch"] == 0 and ss["t_epochs"] == 1000 and ss["t_init"] == "normal"
    assert ss["t_act"] == ["sigmoid"]
    assert any("NNDL course lab 5" in i.value for i in lab.info)


def test_bad_settings_are_explained_not_crashed(lab):
    for key, value, words in (("t_hidden", "12,abc", "hidden"), ("t_hidden", "5000", "4096"),
                              ("t_act", [], "at least one activation")):
        lab.session_state[key] = value
        lab.run()
        lab.button(key="t_start").click().run()
        assert_clean(lab)
        assert any(words in e.value for e in lab.error), [e.value for e in lab.error]
        lab.session_state["t_hidden"] = "8"
        lab.session_state["t_act"] = ["relu"]


def test_malformed_csv_upload_gets_a_clear_message(lab):
    lab.session_state["t_data"] = "csv"
    lab.run()
    assert_clean(lab)
    lab.button(key="t_start").click().run()
    assert any("upload a CSV" in e.value for e in lab.error)


def test_checkpoint_download_loads_back(lab):
    at = start(lab, t_data="moons", t_act=["swish"], t_hidden="6", t_epochs=2, t_seed=13)
    poll_until_finished(at)
    buttons = {b.label: b for b in at.get("download_button")}
    assert any("checkpoint" in label for label in buttons)
    assert any("metrics" in label for label in buttons)


def test_results_csv_has_every_epoch():
    from actviz.plots.training_figures import history_frame
    from actviz.training.config import EpochRecord, RunProgress

    def record(epoch: int, acc: float) -> EpochRecord:
        return EpochRecord(epoch, 1.0, acc, 1.0, acc, 1.0, acc, 0.1)

    runs = [RunProgress("A", "a", history=[record(1, 0.5), record(2, 0.6)]),
            RunProgress("B", "b", history=[record(1, 0.7)])]
    df = history_frame(runs)
    assert list(df["activation"]) == ["A", "A", "B"] and list(df["epoch"]) == [1, 2, 1]
    assert list(df["test_acc"]) == [0.5, 0.6, 0.7]
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    assert pd.read_csv(io.StringIO(buf.getvalue())).shape == (3, 9)


def test_checkpoint_zip_layout():
    import torch

    from actviz.activations.choice import choose
    from actviz.network import models

    model = models.build_mlp(2, (3,), 1, choose("relu"))
    z = zipfile.ZipFile(io.BytesIO(checkpoint.save(model)))
    assert sorted(z.namelist()) == ["config.json", "model.pt"]
    state = torch.load(io.BytesIO(z.read("model.pt")), weights_only=True)
    assert set(state) == set(model.state_dict())


def _csv(rows: int = 60) -> bytes:
    lines = ["a,b,c,label"]
    for i in range(rows):
        cls = "cat" if i % 2 else "dog"
        lines.append(f"{i % 7},{(i * 3) % 5},{1.5 if cls == 'cat' else -1.5},{cls}")
    return ("\n".join(lines) + "\n").encode()


def test_a_malformed_csv_upload_is_explained_and_a_good_one_trains(lab):
    lab.session_state["t_data"] = "csv"
    lab.run()
    lab.file_uploader(key="t_csv_file").set_value(("broken.csv", b"a,b,label\n1,x,cat\n2,3,dog\n", "text/csv")).run()
    assert_clean(lab)
    assert any("broken.csv" in e.value for e in lab.error), [e.value for e in lab.error]
    lab.file_uploader(key="t_csv_file").set_value(("animals.csv", _csv(), "text/csv")).run()
    assert_clean(lab)
    assert not any("animals.csv" in e.value for e in lab.error)
    at = start(lab, t_act=["relu"], t_hidden="4", t_epochs=60, t_seed=21)
    poll_until_finished(at)
    table = at.dataframe[0].value
    assert list(table["activation"]) == ["ReLU"] and table["test accuracy"][0] >= 0.9


def test_a_checkpoint_loads_back_and_a_tampered_one_is_refused(lab):
    from actviz.activations.choice import choose
    from actviz.data import datasets
    from actviz.training import engine as training

    cfg = training.TrainConfig(datasets.DatasetSpec(name="moons"), (choose("tanh"),), hidden=(6,), epochs=3, seed=5)

    class Sink:
        def run_started(self, i): ...
        def live_point(self, *a): ...
        def epoch_done(self, *a): ...
        def run_finished(self, *a): ...

    model = training.train(cfg, Sink())[0].model
    from actviz.training.jobs import Job

    job = Job(cfg, "x", 0.0).snapshot(None)
    from actviz.views import training_lab as training_results

    data = training_results.checkpoint_bytes(job, 0, model)
    lab.file_uploader(key="t_ckpt_upload").set_value(("model.zip", data, "application/zip")).run()
    assert_clean(lab)
    assert any("Loaded a 2-6-1 network" in s.value for s in lab.success)
    expected = training.evaluate(model, datasets.load(cfg.dataset).x_test, datasets.load(cfg.dataset).y_test)[1]
    assert lab.metric[0].value == f"{expected:.2%}"
    lab.file_uploader(key="t_ckpt_upload").set_value(("evil.zip", b"PK\x03\x04 not a zip", "application/zip")).run()
    assert_clean(lab)
    assert any("evil.zip" in e.value for e in lab.error)
