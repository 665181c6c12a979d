"""The gradient-flow page driven as a person uses it (Streamlit AppTest): presets show their lessons."""

from __future__ import annotations

import pytest

from actviz.activations.choice import choose
from actviz.data import datasets
from actviz.network import diagnostics, models
from tests.app.helpers import assert_clean, figures, open_page

PAGE = "app_pages/gradient_flow.py"


def _fig(at, series: str) -> dict:
    for fig in figures(at):
        if any((t.get("meta") or {}).get("series") == series for t in fig["data"]):
            return fig
    raise AssertionError(f"no figure with {series} traces")


def _traces(at, series: str) -> list[dict]:
    return [t for t in _fig(at, series)["data"] if (t.get("meta") or {}).get("series") == series]


def _norms(at) -> dict[str, list[float]]:
    """Measured gradient norms per activation key, as the chart carries them."""
    return {t["meta"]["activation"]: t["meta"]["values"] for t in _traces(at, "grad_norm")}


def _query(at) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def _success(at) -> str:
    return " ".join(s.value for s in at.success)


def _preset(at, key: str) -> None:
    at.pills(key="gf_preset_pick").set_value(key).run()


@pytest.fixture(scope="module")
def page():
    at = open_page(PAGE)
    assert_clean(at)
    return at


def test_default_page_draws_every_chart_from_real_gradients(page):
    assert page.title[0].value == "Gradient flow"
    series = {(t.get("meta") or {}).get("series") for fig in figures(page) for t in fig["data"]}
    assert {"grad_norm", "grad_hist", "act_hist", "dead", "saturated", "zero"} <= series
    ds = datasets.load(datasets.DatasetSpec("digits"))
    x, y = diagnostics.seeded_batch(ds.x_train, ds.y_train, 256, 42)
    expected = diagnostics.gradient_report(models.build_mlp(64, (512, 256, 256, 128), 10, choose("sigmoid"),
                                                            seed=42), x, y)
    assert _norms(page)["sigmoid()"] == pytest.approx(expected.norms, rel=1e-6)
    fig = _fig(page, "grad_norm")
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert fig["data"][0]["x"] == ["L1 64→512", "L2 512→256", "L3 256→256", "L4 256→128", "L5 128→10"]
    hist = _traces(page, "grad_hist")
    assert len(hist) == 3 * 5  # rows = activations, columns = layers
    assert len(page.table[0].value) == 3
    assert "—" not in page.table[0].value.to_string(), "every cell measured"
    assert _query(page) == {}


def test_vanishing_gradients_preset(page):
    _preset(page, "vanishing")
    assert_clean(page)
    norms = _norms(page)
    sig, relu = norms["sigmoid()"], norms["relu()"]
    assert len(sig) == 5 and sig[0] < sig[-1] / 100, "sigmoid: the first layer gets a tiny share"
    assert 0.1 < relu[0] / relu[-1] < 10, "ReLU: about the same in every layer"
    assert "Measured" in _success(page) and "Vanishing gradients" in " ".join(m.value for m in page.markdown)
    q = _query(page)
    assert q["preset"] == "vanishing" and q["data"] == "moons" and q["hidden"] == "3,3,3,3"


def test_dead_relu_preset(page):
    _preset(page, "dead_relu")
    assert_clean(page)
    norms = _norms(page)
    assert norms["relu()"] == [0.0] * 5
    zero = [t for t in _traces(page, "grad_norm_zero") if t["meta"]["activation"] == "relu()"]
    assert len(zero[0]["x"]) == 5, "ReLU drawn as 'exactly 0' in every layer"
    firsts = [norms[k][0] for k in ("leaky_relu(negative_slope=0.01)", "leaky_relu(negative_slope=0.1)",
                                    "leaky_relu(negative_slope=0.3)")]
    assert 0 < firsts[0] < firsts[1] < firsts[2], "gradients flow again, more with a larger slope"
    dead = [t for t in _traces(page, "dead") if t["meta"]["activation"] == "relu()"][0]
    assert dead["y"] == [3] * 4 and dead["meta"]["sizes"] == [3] * 4, "every unit of every layer is dead"
    assert "Measured" in _success(page)
    assert page.checkbox(key="gf_bias_on").value is True and page.number_input(key="gf_bias").value == -8


def _series(fig: dict) -> set[str]:
    return {(t.get("meta") or {}).get("series") for t in fig["data"]}


def _infos(at) -> str:
    return " ".join(i.value for i in at.info)


def test_zero_init_symmetry_preset(page):
    _preset(page, "zero_init")
    assert_clean(page)
    assert "first_weights" in _series(figures(page)[0]), "the lesson (the symmetry heatmaps) comes first"
    heat = _traces(page, "first_weights")
    zero, contrast = heat
    assert zero["meta"]["identical"] is True and contrast["meta"]["identical"] is False
    # Exact zeros drawn as zeros (white, written "0"), not rounding noise on a ±1e-8 colour scale.
    assert zero["z"] == [[0.0, 0.0]] * 5 and zero["text"] == [["0", "0"]] * 5 and zero["meta"]["all_zero"]
    assert all(0 < abs(v) < 1e-6 for row in zero["meta"]["raw"] for v in row), "what float32 stored"
    assert zero["zmax"] == 1.0 and zero["showscale"] is False
    assert any(r != pytest.approx(contrast["z"][0]) for r in contrast["z"][1:])
    assert "still identical" in _success(page)
    assert "float rounding of 0" in _infos(page), "the near-empty norm chart is explained beside it"
    assert _query(page)["init"] == "zeros"


def test_fashion_mnist_net_at_init_preset(page):
    _preset(page, "fashion_init")
    assert_clean(page)
    norms = _norms(page)
    assert len(norms) == 9
    sig = norms.pop("sigmoid()")
    assert sig[0] < sig[-1] / 100
    for key, values in norms.items():
        assert 0.1 < values[0] / values[-1] < 10, key
    assert "Measured" in _success(page)
    if not datasets.status("fashion_mnist").startswith("ready"):
        assert any("digits" in w.value for w in page.warning), "the fallback is explained"


def test_deep_relu_vs_swish_preset(page):
    _preset(page, "deep_relu_swish")
    assert_clean(page)
    lead = figures(page)[0]
    assert {"dead", "zero_grad"} <= _series(lead), "the lesson (dead units, exact zeros) comes first"
    dead = {t["meta"]["activation"]: t for t in lead["data"] if t["meta"]["series"] == "dead"}
    relu, swish = dead["relu()"], dead["swish(beta=1.0)"]
    assert len(relu["y"]) == 10 and sum(relu["y"]) > 0 and relu["y"] == relu["meta"]["counts"]
    assert sum(relu["y"][5:]) > sum(relu["y"][:3]), "deeper layers lose more units"
    assert swish["y"] == [0] * 10 and swish["text"] == ["0"] * 10, "zeros drawn and labelled as zeros"
    assert lead["layout"]["yaxis"]["title"]["text"] == "units (count)" and lead["layout"]["yaxis"]["tickformat"] == "d"
    zero = {t["meta"]["activation"]: t for t in lead["data"] if t["meta"]["series"] == "zero_grad"}
    assert max(zero["relu()"]["y"]) > 50 and zero["swish(beta=1.0)"]["y"] == [0.0] * 11
    assert "Measured" in _success(page)
    aside = _infos(page)
    assert "Why Swish's lines sit lower" in aside and "0.70 for ReLU" in aside and "0.50 for Swish" in aside


def test_changing_a_setting_updates_the_link_and_the_chart(page):
    _preset(page, "vanishing")
    before = _norms(page)["sigmoid()"]
    page.number_input(key="gf_seed").set_value(3).run()
    assert_clean(page)
    assert _query(page)["seed"] == "3"
    assert _norms(page)["sigmoid()"] != before
    assert any("changed settings" in c.value for c in page.caption)


def test_link_reproduces_the_view():
    query = {"data": "xor", "act": "relu,leaky_relu(negative_slope=0.2),elu", "elu.alpha": "0.5",
             "hidden": "16,8", "init": "normal", "std": "0.5", "bias": "0.1", "batch": "64", "seed": "3",
             "eps": "0.1"}
    at = open_page(PAGE, query)
    assert_clean(at)
    assert at.multiselect(key="gf_act").value == ["relu", "leaky_relu(negative_slope=0.2)", "elu"]
    assert at.slider(key="gf_p_elu_alpha").value == pytest.approx(0.5)
    assert at.text_input(key="gf_hidden").value == "16,8"
    assert at.selectbox(key="gf_init").value == "normal"
    assert at.number_input(key="gf_std").value == pytest.approx(0.5)
    assert _query(at) == query
    ds = datasets.load(datasets.DatasetSpec("xor"))
    x, y = diagnostics.seeded_batch(ds.x_train, ds.y_train, 64, 3)
    model = models.build_mlp(2, (16, 8), 1, choose("elu", {"alpha": 0.5}), models.InitSpec("normal", std=0.5,
                                                                                          bias=0.1), seed=3)
    expected = diagnostics.gradient_report(model, x, y)
    assert _norms(at)["elu(alpha=0.5)"] == pytest.approx(expected.norms, rel=1e-6)


def test_hostile_link_and_missing_files_are_explained_not_crashed():
    at = open_page(PAGE, {"act": "nope,relu", "hidden": "1x99", "seed": "nan", "init": "<b>", "batch": "-5"})
    assert_clean(at)
    warning = " ".join(w.value for w in at.warning)
    assert "nope" in warning and "hidden" in warning and "seed" in warning
    assert at.multiselect(key="gf_act").value == ["relu"] and figures(at)

    at = open_page(PAGE, {"data": "mnist"})
    assert_clean(at)
    if not datasets.status("mnist").startswith("ready"):
        assert any("MNIST files not found" in e.value for e in at.error)
        assert not figures(at)


def test_custom_formula_and_variants_from_the_sidebar():
    at = open_page(PAGE, {"data": "moons", "act": "relu", "hidden": "8,8"})
    at.toggle(key="gf_custom").set_value(True).run()
    at.text_input(key="gf_expr").input("x * sigmoid(beta * x)").run()
    at.slider(key="gf_cp_beta").set_value(2.0).run()
    assert_clean(at)
    assert "custom[x * sigmoid(beta * x)](beta=2.0)" in _norms(at)
    at.selectbox(key="gf_var_name").set_value("leaky_relu").run()
    at.slider(key="gf_var_leaky_relu_negative_slope").set_value(0.25).run()
    at.button(key="gf_var_add").click().run()
    assert_clean(at)
    assert "leaky_relu(negative_slope=0.25)" in at.multiselect(key="gf_act").value
    assert "leaky_relu(negative_slope=0.25)" in _norms(at)
    at.text_input(key="gf_expr").input("x.__class__").run()
    assert_clean(at)
    assert any("Your formula" in e.value for e in at.error) and figures(at)
    at.text_input(key="gf_hidden").input("abc").run()
    assert_clean(at)
    assert any("cannot read" in e.value for e in at.error)


def test_missing_values_read_as_a_dash_and_counts_sit_on_count_axes():
    at = open_page(PAGE, {"data": "moons", "act": "relu,tanh", "hidden": "8,8"})
    neurons = _fig(at, "saturated")
    assert neurons["layout"]["yaxis"]["title"]["text"] == "units (count)"
    assert [t["y"] for t in neurons["data"] if t["meta"]["series"] == "dead"] == [
        t["meta"]["counts"] for t in neurons["data"] if t["meta"]["series"] == "dead"]
    at.text_input(key="gf_hidden").input("").run()  # no hidden layer: nothing to count
    assert_clean(at)
    table = at.table[0].value
    assert (table["dead units"] == "—").all() and (table["saturated %"] == "—").all()
    assert "None" not in table.to_string() and "nan" not in table.to_string()


def test_a_link_naming_only_a_preset_opens_the_preset():
    at = open_page(PAGE, {"preset": "vanishing"})
    assert_clean(at)
    assert at.text_input(key="gf_hidden").value == "3,3,3,3" and at.selectbox(key="gf_data").value == "moons"
    assert "Measured" in _success(at), "the preset's settings, so its lesson is checked"
    assert _query(at)["hidden"] == "3,3,3,3", "the address now holds every setting"
    deep = open_page(PAGE, {"preset": "deep_relu_swish"})
    assert {"dead", "zero_grad"} <= _series(figures(deep)[0])
    kept = open_page(PAGE, {"preset": "vanishing", "seed": "3", "data": "moons", "hidden": "3,3,3,3",
                            "act": "sigmoid,relu", "batch": "1000"})
    assert kept.number_input(key="gf_seed").value == 3, "a full link is taken as it is"
