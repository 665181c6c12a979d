"""The training lab driven as a person uses it (AppTest).

AppTest has no browser, so the page's ``run_every`` polling never fires: the tests poll explicitly by
rerunning the page until the job has finished, as the browser's timer would.
"""

from __future__ import annotations

import io
import re
import time
import zipfile

import pandas as pd
import pytest

from actviz.network import checkpoint
from tests.app.helpers import assert_clean, figures, open_page, shown

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
        at.session_state[key] = value
    at.run()
    at.button(key="t_start").click().run()
    assert_clean(at)
    return at


def strip(at) -> list[dict[str, str]]:
    """The race strip's chips: run, progress (where its bar ends), status and text."""
    body = next(h.proto.body for h in at.get("html") if "av-strip" in h.proto.body)
    chips = re.findall(r'data-run="(\d+)" data-progress="([\d.]+)" data-status="(\w+)">(.*?)<div class="av-bar"',
                       body)
    return [{"run": r, "progress": float(p), "status": s, "text": re.sub(r"<[^>]+>", "", t)} for r, p, s, t in chips]


def title_of(fig: dict) -> str:
    return (fig["layout"].get("title") or {}).get("text") or ""


def results(at):
    """The results table as the page shows it (strings; the index is the activation), numbers parsed back."""
    import pandas as pd

    from ui.text import plain

    table = at.table[0].value.reset_index()
    table.columns = [plain(c) for c in table.columns]
    unescape = lambda v: plain(v).replace("\\", "").replace("\u2060", "")  # noqa: E731
    table = table.map(unescape)
    for column in ("test accuracy", "best validation accuracy", "dead neurons"):
        if column in table:
            table[column] = pd.to_numeric(table[column].str.rstrip("%"), errors="coerce") / 100
    for column in ("epochs run", "best epoch"):
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def chart(at, title: str) -> dict:
    return next(c for c in figures(at) if title_of(c) == title)


@pytest.fixture
def lab():
    at = open_page(PAGE)
    assert_clean(at)
    return at


def test_start_poll_and_read_the_results_table(lab):
    at = start(lab, t_data="moons", t_act=["relu", "tanh"], t_hidden="8", t_epochs=4, t_seed=11)
    poll_until_finished(at)
    assert "None" not in at.table[0].value.to_string() and "nan" not in at.table[0].value.to_string()
    table = results(at)
    assert set(table["activation"]) == {"ReLU", "Tanh"}
    assert (table["status"] == "done").all()
    assert table["test accuracy"].is_monotonic_decreasing
    assert (table["epochs run"] == 4).all()
    # On 2-D data the charts sit beside the network view: train loss over test accuracy.
    acc = chart(at, "Test accuracy")
    epochs = [t for t in acc["data"] if (t.get("meta") or {}).get("series") == "test_acc"]
    assert len(epochs) == 2 and all(t["x"] == [1, 2, 3, 4] for t in epochs)
    assert acc["layout"]["showlegend"] is False  # the race strip is the key; no legend over an axis title
    # One accuracy per run: the strip shows exactly the table's number, and the bar is full.
    chips = strip(at)
    for chip in chips:
        row = table[table["activation"] == chip["text"].split(" · ")[0]].iloc[0]
        assert f"{row['test accuracy']:.1%}" in chip["text"] and chip["progress"] == 1.0
        assert chip["text"].split(" · ")[1] == f"{row['test accuracy']:.1%}"  # one accuracy per run
    at.segmented_control(key="t_view").set_value("Test loss").run()
    assert chart(at, "Test loss")


def test_the_network_view_and_a_picked_neuron_appear_for_a_2d_job(lab):
    import numpy as np

    from actviz.training import jobs
    from actviz.views import network_view

    at = start(lab, t_data="moons", t_act=["relu", "tanh"], t_hidden="3,2", t_epochs=3, t_seed=5)
    poll_until_finished(at)
    job_id = at.session_state["t_job_pick"]
    view = next(f for f in figures(at) if any((t.get("meta") or {}).get("series") == "neurons" for t in f["data"]))
    markers = next(t for t in view["data"] if t["meta"]["series"] == "neurons")
    assert [list(c) for c in markers["customdata"]] == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]
    # The hover text of every first-layer neuron states its output range over the plane: recomputed here
    # from the trained weights with numpy.
    model = jobs.manager().model(job_id, at.session_state["actviz_token"], 0)
    w, b = model.linears[0].weight.detach().numpy(), model.linears[0].bias.detach().numpy()
    config = jobs.manager().snapshot(job_id, at.session_state["actviz_token"]).config
    pic = network_view.picture(config, 0, network_view.weights_of(model))
    x0, x1, y0, y1 = pic.extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, network_view.GRID), np.linspace(y0, y1, network_view.GRID))
    h = np.maximum(np.stack([gx.ravel(), gy.ravel()], 1) @ w.T.astype(np.float64) + b, 0)
    for unit in range(3):
        assert f"{h[:, unit].min():.3g} to {h[:, unit].max():.3g}" in markers["text"][unit]
        assert f"bias {b[unit]:.3g}" in markers["text"][unit]
    picker = next(s for s in at.selectbox if s.key and s.key.startswith("t_nv_neuron_"))
    assert len(picker.options) == 1 + 3 + 2
    picker.set_value((0, 1)).run()
    assert_clean(at)
    detail = next(c for c in figures(at) if "neuron 2" in title_of(c))
    bars = next(t for t in detail["data"] if t["meta"]["series"] == "pre_hist")
    assert sum(bars["y"]) == 700  # every training sample of moons (1000: 70 % train) counted once
    assert next(b for b in at.get("button_group") if b.key.startswith("t_nv_run_"))


def test_digits_has_no_network_view_but_three_charts(lab):
    at = start(lab, t_data="digits", t_act=["relu"], t_hidden="8", t_epochs=1, t_seed=3)
    poll_until_finished(at)
    assert not at.get("image")
    titles = {title_of(c) for c in figures(at)}
    assert {"Train loss", "Test loss", "Test accuracy"} <= titles


def test_the_job_survives_a_reload(lab):
    at = start(lab, t_data="moons", t_act=["gelu"], t_hidden="4", t_epochs=3, t_seed=12)
    token = at.session_state["actviz_token"]  # the browser keeps it in a cookie; AppTest has none
    poll_until_finished(at)
    again = open_page(PAGE, {"s": token})  # a new session of the same browser
    assert_clean(again)
    assert any("GELU" in o for o in again.selectbox(key="t_job_pick").options)
    assert any("Results" in h.value for h in again.subheader)
    stranger = open_page(PAGE)
    assert not stranger.get("selectbox") or all(
        "GELU" not in o for s in stranger.selectbox if s.key == "t_job_pick" for o in s.options)


def test_the_address_is_the_setup_and_a_shared_one_rebuilds_the_form(lab):
    lab.session_state["t_hidden"] = "6,3"
    lab.session_state["t_lr"] = 0.05
    lab.session_state["t_act"] = ["tanh", "swish"]
    lab.run()
    link = {k: (v[-1] if isinstance(v, list) else v) for k, v in lab.query_params.items()}
    assert link["hidden"] == "6,3" and link["lr"] == "0.05" and link["act"] == "tanh,swish"
    shared = {k: v for k, v in link.items() if k != "s"}
    friend = open_page(PAGE, shared)
    assert_clean(friend)
    ss = friend.session_state
    assert ss["t_hidden"] == "6,3" and ss["t_lr"] == pytest.approx(0.05) and ss["t_act"] == ["tanh", "swish"]
    assert not any(s.key == "t_job_pick" for s in friend.selectbox)  # the setup, never the jobs


def test_a_bad_link_is_explained_and_the_page_still_works():
    at = open_page(PAGE, {"lr": "-4", "act": "relu,nonsense", "epochs": "abc"})
    assert_clean(at)
    text = " ".join(shown(w.value) for w in at.warning)
    assert "lr=-4" in text and "nonsense" in text and "epochs" in text
    assert at.session_state["t_lr"] == pytest.approx(0.01)


def test_the_picker_shows_the_job_just_started_with_readable_labels(lab):
    at = start(lab, t_data="moons", t_act=["relu"], t_hidden="4", t_epochs=2, t_seed=31)
    poll_until_finished(at)
    at = start(at, t_act=["relu", "sigmoid", "tanh", "gelu", "swish", "mish", "elu"], t_epochs=2, t_seed=32)
    picker = at.selectbox(key="t_job_pick")
    assert len(picker.options) == 2 and picker.index == 1
    label = picker.options[1]
    assert re.match(r"#2 · \d\d:\d\d:\d\d · Moons · ReLU, Sigmoid", label) and label.endswith("…")
    assert "ELU" in picker.proto.help  # the whole label, on hover
    poll_until_finished(at)


def test_bad_settings_are_explained_not_crashed(lab):
    for key, value, words in (("t_hidden", "12,abc", "hidden"), ("t_hidden", "5000", "4096"),
                              ("t_act", [], "at least one activation")):
        lab.session_state[key] = value
        lab.run()
        lab.button(key="t_start").click().run()
        assert_clean(lab)
        assert any(words in shown(e.value) for e in lab.error), [shown(e.value) for e in lab.error]
        lab.session_state["t_hidden"] = "8"
        lab.session_state["t_act"] = ["relu"]


def test_no_hidden_layer_says_it_is_a_linear_model_before_start(lab):
    lab.session_state["t_hidden"] = ""
    lab.run()
    assert any("a linear model: the activation has no effect" in shown(w.value) for w in lab.warning)
    lab.session_state["t_hidden"] = "4"
    lab.run()
    assert not any("linear model" in shown(w.value) for w in lab.warning)


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
    assert pd.read_csv(io.StringIO(buf.getvalue())).shape == (3, 12)  # + lr, val_r2, test_r2


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


def test_a_failed_upload_keeps_its_error_and_a_good_one_trains(lab):
    lab.session_state["t_data"] = "csv"
    lab.run()
    assert_clean(lab)
    lab.button(key="t_start").click().run()
    assert any("upload a CSV" in shown(e.value) for e in lab.error)
    lab.file_uploader(key="t_csv_file").set_value(("broken.csv", b"a,b,label\n1,x,cat\n2,3,dog\n", "text/csv")).run()
    assert_clean(lab)
    assert any("broken.csv" in shown(e.value) for e in lab.error), [shown(e.value) for e in lab.error]
    lab.run()
    assert any("broken.csv" in shown(e.value) for e in lab.error), "the error stays on screen"
    lab.button(key="t_start").click().run()
    errors = [shown(e.value) for e in lab.error]
    assert any(e.startswith("Cannot start: broken.csv could not be used") for e in errors), errors
    assert not any("upload a CSV file first" in e for e in errors)
    lab.file_uploader(key="t_csv_file").set_value(("animals.csv", _csv(), "text/csv")).run()
    assert_clean(lab)
    assert not any("animals.csv" in shown(e.value) for e in lab.error)
    at = start(lab, t_act=["relu"], t_hidden="4", t_epochs=60, t_seed=21)
    poll_until_finished(at)
    table = results(at)
    assert list(table["activation"]) == ["ReLU"] and table["test accuracy"][0] >= 0.9


def test_a_checkpoint_loads_back_with_what_it_holds_and_a_tampered_one_is_refused(lab):
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
    assert any("Loaded a 2-6-1 network" in shown(s.value) for s in lab.success)
    held = lab.table[0].value.map(shown)
    assert held.loc["activations", "in this file"] == "Tanh" and held.loc["layers", "in this file"].startswith("2-6-1")
    assert held.loc["dataset", "in this file"].startswith("Moons")
    expected = training.evaluate(model, datasets.load(cfg.dataset).x_test, datasets.load(cfg.dataset).y_test)[1]
    assert lab.metric[0].value == f"{expected:.2%}"
    lab.file_uploader(key="t_ckpt_upload").set_value(("evil.zip", b"PK\x03\x04 not a zip", "application/zip")).run()
    assert_clean(lab)
    assert any("evil.zip" in shown(e.value) for e in lab.error)


def test_replay_plays_a_finished_race_from_its_history(lab):
    at = start(lab, t_data="moons", t_act=["relu", "tanh"], t_hidden="4", t_epochs=10, t_seed=41)
    poll_until_finished(at)
    job_id = at.session_state["t_job_pick"]
    at.selectbox(key="t_replay_pace").set_value(30).run()
    at.button(key=f"t_replay_go_{job_id}").click().run()
    assert_clean(at)
    assert any(m.value.startswith("**Replaying**") for m in at.markdown)
    # Half-way through a 30 s replay: five of the ten epochs, the bars half full, no result yet
    at.session_state["t_replay"] = (job_id, time.time() - 15, 30.0)
    at.run()
    acc = chart(at, "Test accuracy")
    xs = [t["x"] for t in acc["data"] if t["meta"]["series"] == "test_acc"]
    assert xs == [[1, 2, 3, 4, 5]] * 2
    assert [c["progress"] for c in strip(at)] == [0.5, 0.5]
    assert any("epoch 5/10" in m.value for m in at.markdown)
    at.session_state["t_replay"] = (job_id, time.time() - 31, 30.0)
    at.run()
    assert any(m.value.startswith("**Finished**") for m in at.markdown)
    assert [c["progress"] for c in strip(at)] == [1.0, 1.0]


def _manager_and_token(at):
    from actviz.training import jobs

    return jobs.manager(), at.session_state["actviz_token"]


def test_a_regression_run_reports_the_r2_of_its_own_predictions(lab):
    import torch

    from actviz.data import datasets

    at = start(lab, t_data="reg_plane", t_act=["tanh"], t_hidden="4", t_epochs=8, t_seed=3, t_lr=0.03)
    poll_until_finished(at)
    manager, token = _manager_and_token(at)
    job = manager.snapshot(at.session_state["t_job_pick"], token)
    model = manager.model(job.id, token, 0)
    ds = datasets.load(job.config.dataset)
    with torch.no_grad():
        pred = model(ds.x_test)[:, 0].double().numpy()
    y = ds.y_test.double().numpy()
    r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    table = at.table[0].value.reset_index()
    shown = {c.replace("\\", ""): v for c, v in table.iloc[0].items()}
    assert float(shown["test R²"].replace("\u2060", "")) == pytest.approx(r2, abs=6e-5)
    assert strip(at)[0]["text"] == f"Tanh · R² {r2:.3f}"
    assert chart(at, "Test R²")


def test_the_confusion_matrix_counts_the_models_own_test_predictions(lab):
    import numpy as np
    import torch

    from actviz.data import datasets
    from actviz.network import models

    at = start(lab, t_data="spiral", t_act=["relu", "tanh"], t_hidden="8,8", t_epochs=6, t_seed=4, t_lr=0.02)
    poll_until_finished(at)
    manager, token = _manager_and_token(at)
    job = manager.snapshot(at.session_state["t_job_pick"], token)
    ds = datasets.load(job.config.dataset)
    fig = next(f for f in figures(at) if "confusion" in title_of(f).lower())
    heat = [t for t in fig["data"] if t["meta"]["series"] == "confusion"]
    assert len(heat) == 2
    for run, trace in enumerate(heat):
        with torch.no_grad():
            pred = models.predict(manager.model(job.id, token, run)(ds.x_test)).numpy()
        truth = ds.y_test.numpy()
        k = int(truth.max()) + 1
        expected = np.zeros((k, k), dtype=int)
        np.add.at(expected, (truth, pred), 1)
        assert trace["z"] == expected.tolist()
        accuracy = np.trace(expected) / expected.sum()
        assert f"{accuracy:.1%} correct" in fig["layout"]["annotations"][run]["text"]


def test_several_seeds_race_as_one_chip_per_activation_with_a_verdict(lab):
    at = start(lab, t_data="moons", t_act=["relu", "sigmoid"], t_hidden="6", t_epochs=3, t_seed=5, t_seeds=3)
    poll_until_finished(at)
    chips = strip(at)
    assert [c["text"].split(" · ")[0] for c in chips] == ["ReLU", "Sigmoid"]
    assert all(c["text"].endswith("3 seeds") and "±" in c["text"] for c in chips)
    assert len(at.table) >= 2  # the per-activation summary, then every run
    summary = at.table[0].value
    assert list(summary["seeds"]) == ["3", "3"]
    assert any("seed" in (m.value or "") for m in [*at.info, *at.success])


def test_the_engines_options_go_from_the_sidebar_into_the_job(lab):
    at = start(lab, t_data="circles", t_act=["tanh"], t_hidden="4,3", t_epochs=2, t_seed=6, t_l2=0.01,
               t_dropout=0.1, t_sched="cosine", t_feat=["x1", "x2", "x1sq", "x2sq"], t_layers="relu>tanh")
    manager, token = _manager_and_token(at)
    cfg = manager.snapshot(at.session_state["t_job_pick"], token).config
    assert (cfg.l2, cfg.dropout, cfg.schedule) == (0.01, 0.1, "cosine")
    assert cfg.features == ("x1", "x2", "x1sq", "x2sq")
    assert [a.label for a in cfg.activations] == ["Tanh", "ReLU > Tanh"]
    link = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert link["l2"] == "0.01" and link["sched"] == "cosine" and link["layers"] == "relu>tanh"
    poll_until_finished(at)
    view = next(f for f in figures(at) if any((t.get("meta") or {}).get("series") == "neurons" for t in f["data"]))
    assert view  # the network view draws the expanded inputs (four feature squares)


def test_learned_parameters_are_charted_per_epoch_and_the_shape_morphs():
    at = open_page(PAGE, {"act": "prelu,relu,swish", "learn": "prelu.init,swish.beta", "hidden": "6",
                          "epochs": "3", "seed": "5"})
    assert_clean(at)
    at.button(key="t_start").click().run()
    poll_until_finished(at)
    assert "Learned" in at.segmented_control(key="t_view").options
    at.segmented_control(key="t_view").set_value("Learned").run()
    assert_clean(at)
    manager, token = _manager_and_token(at)
    job = manager.snapshot(at.session_state["t_job_pick"], token)
    params = next(f for f in figures(at) if any((t.get("meta") or {}).get("param") for t in f["data"]))
    lines = {(t["meta"]["run"], t["meta"]["param"]): t for t in params["data"]}
    assert set(lines) == {(0, "init"), (2, "beta")}  # ReLU learns nothing
    for (run, param), line in lines.items():
        recorded = [h.learned[param][0] for h in job.runs[run].history]
        assert line["x"] == [0, 1, 2, 3] and line["y"][1:] == pytest.approx(recorded)
    assert lines[(0, "init")]["y"][0] == pytest.approx(0.25) and lines[(2, "beta")]["y"][0] == pytest.approx(1.0)
    picker = at.selectbox(key="t_learned_run")
    assert len(picker.options) == 2 and "PReLU" in picker.options[0] and "Swish" in picker.options[1]
    picker.set_value(2).run()
    shape = next(f for f in figures(at) if f.get("frames"))
    assert [fr["name"] for fr in shape["frames"]] == ["0", "1", "2", "3"]
    # The last frame is Swish with the learned beta, x·σ(βx), computed here.
    import numpy as np

    x, beta = np.asarray(shape["data"][0]["x"]), job.runs[2].history[-1].learned["beta"][0]
    assert shape["frames"][-1]["data"][0]["y"] == pytest.approx(x / (1 + np.exp(-beta * x)), rel=1e-4, abs=1e-5)
