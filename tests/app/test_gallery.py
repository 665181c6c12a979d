"""The home and gallery pages driven as a person uses them (Streamlit AppTest)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.app.helpers import assert_clean, figures, open_page, traces
from ui.pages import PAGES

GALLERY = "app_pages/gallery.py"


def _xy(trace: dict) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(trace["x"], dtype=float)
    y = np.asarray([math.nan if v is None else v for v in trace["y"]], dtype=float)
    return x, y


def _trace_for(fig: dict, activation_key: str, series: str) -> dict:
    for t in fig["data"]:
        meta = t.get("meta") or {}
        if meta.get("activation") == activation_key and meta.get("series") == series:
            return t
    raise AssertionError(f"no {series} trace for {activation_key}: "
                         f"{[(t.get('meta') or {}) for t in fig['data']]}")


def test_home_links_to_every_page_and_every_page_renders():
    at = open_page()
    assert_clean(at)
    assert "actviz" in at.title[0].value
    linked = {link.proto.page for link in at.get("page_link")}
    for page in PAGES:
        if not page.default:
            assert page.url_path in linked, f"home page does not link to {page.title}"
    for page in PAGES:
        sub = open_page(page.path)
        assert_clean(sub)
        assert sub.title, f"{page.path} shows no title"


def test_default_gallery_plots_sigmoid_tanh_relu_with_autograd_derivatives():
    at = open_page(GALLERY)
    assert_clean(at)
    (fig,) = figures(at)
    x, y = _xy(_trace_for(fig, "sigmoid()", "y"))
    _, dy = _xy(_trace_for(fig, "sigmoid()", "dy"))
    s = torch.sigmoid(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, s, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dy, s * (1 - s), rtol=1e-9, atol=1e-12)
    assert x[0] == pytest.approx(-5) and x[-1] == pytest.approx(5)
    assert len(traces(fig, "y")) == 3 and len(traces(fig, "dy")) == 3 and not traces(fig, "d2y")


def test_moving_a_slider_redraws_the_curve_and_updates_the_link():
    at = open_page(GALLERY, {"act": "swish"})
    before = _xy(_trace_for(figures(at)[0], "swish(beta=1.0)", "y"))[1]
    at.slider(key="g_p_swish_beta").set_value(2.5).run()
    assert_clean(at)
    fig = figures(at)[0]
    x, after = _xy(_trace_for(fig, "swish(beta=2.5)", "y"))
    assert not np.allclose(before, after)
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(after, (xt * torch.sigmoid(2.5 * xt)).numpy(), rtol=1e-12, atol=1e-12)
    assert at.query_params["swish.beta"] == ["2.5"] or at.query_params["swish.beta"] == "2.5"


def test_second_derivative_toggle_and_relu_corner_is_undefined():
    at = open_page(GALLERY, {"act": "relu,tanh", "xmin": "-1", "xmax": "1"})
    at.toggle(key="g_d2").set_value(True).run()
    assert_clean(at)
    fig = figures(at)[0]
    x, d2 = _xy(_trace_for(fig, "relu()", "d2y"))
    at_zero = np.argmin(np.abs(x))
    assert x[at_zero] == pytest.approx(0, abs=1e-12)
    assert math.isnan(d2[at_zero])
    assert np.all(d2[np.abs(x) > 1e-6] == 0)
    _, d2_tanh = _xy(_trace_for(fig, "tanh()", "d2y"))
    t = np.tanh(x)
    np.testing.assert_allclose(d2_tanh, -2 * t * (1 - t**2), atol=1e-10)


def test_grid_layout_draws_one_panel_per_activation():
    at = open_page(GALLERY, {"act": "elu,gelu,mish,softsign"})
    at.radio(key="g_layout").set_value("grid").run()
    assert_clean(at)
    fig = figures(at)[0]
    axes = {t.get("xaxis", "x") for t in fig["data"]}
    assert len(axes) == 4
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles[:4] == ["ELU", "GELU", "Mish", "Softsign"]


def test_link_reproduces_the_view_and_interactions_write_it_back():
    query = {"act": "elu,gelu", "elu.alpha": "0.5", "xmin": "-3", "xmax": "2", "d2": "1",
             "layout": "grid", "eps": "0.1"}
    at = open_page(GALLERY, query)
    assert_clean(at)
    assert at.multiselect(key="g_act").value == ["elu", "gelu"]
    assert at.slider(key="g_p_elu_alpha").value == pytest.approx(0.5)
    assert at.number_input(key="g_xmin").value == pytest.approx(-3)
    assert at.toggle(key="g_d2").value is True
    assert at.radio(key="g_layout").value == "grid"
    fig = figures(at)[0]
    x, y = _xy(_trace_for(fig, "elu(alpha=0.5)", "y"))
    assert x[0] == pytest.approx(-3) and x[-1] == pytest.approx(2)
    np.testing.assert_allclose(y, torch.nn.functional.elu(torch.from_numpy(x), 0.5).numpy(), atol=1e-12)
    assert {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()} == query


def test_hostile_link_loads_with_a_warning_and_defaults():
    at = open_page(GALLERY, {"act": "nope,relu", "elu.alpha": "nan", "xmin": "1e999", "eps": "-4",
                             "layout": "<script>", "custom": "1", "expr": "__import__('os').system('x')"})
    assert_clean(at)
    warning = " ".join(w.value for w in at.warning)
    assert "nope" in warning and "xmin" in warning and "eps" in warning
    assert at.multiselect(key="g_act").value == ["relu"]
    assert at.number_input(key="g_xmin").value == pytest.approx(-5)
    errors = " ".join(e.value for e in at.error)
    assert "Your formula" in errors and "only plain function names can be called" in errors
    assert figures(at), "the valid part of the view is still drawn"


def test_custom_formula_is_plotted_differentiated_and_tabled_like_a_builtin():
    at = open_page(GALLERY, {"act": "relu"})
    at.toggle(key="g_custom").set_value(True).run()
    at.text_input(key="g_expr").input("x * sigmoid(beta * x)").run()
    assert_clean(at)
    at.slider(key="g_cp_beta").set_value(2.0).run()
    assert_clean(at)
    fig = figures(at)[0]
    key = "custom[x * sigmoid(beta * x)](beta=2.0)"
    x, y = _xy(_trace_for(fig, key, "y"))
    _, dy = _xy(_trace_for(fig, key, "dy"))
    s = 1 / (1 + np.exp(-2 * x))
    np.testing.assert_allclose(y, x * s, atol=1e-12)
    np.testing.assert_allclose(dy, s + 2 * x * s * (1 - s), atol=1e-10)
    table = at.table[0].value
    row = table[table["activation"].str.contains("sigmoid")].iloc[0]
    assert row["monotonic"] == "no" and row["saturating"] == "left"
    at.text_input(key="g_expr").input("x.__class__").run()
    assert_clean(at)
    assert any("attribute access" in e.value for e in at.error)
    assert figures(at), "ReLU is still drawn while the formula is being fixed"


def test_properties_table_matches_the_selection():
    at = open_page(GALLERY, {"act": "sigmoid,relu"})
    table = at.table[0].value.set_index("activation")
    assert list(table.index) == ["Sigmoid", "ReLU"]
    assert table.loc["Sigmoid", "saturating"] == "both"
    assert float(table.loc["Sigmoid", "max |f′|"]) == pytest.approx(0.25)
    assert table.loc["ReLU", "saturating"] == "left"
    assert table.loc["ReLU", "smoothness"] == "C0"
    assert "cost vs ReLU" not in table.columns  # replaced by the measured cost table


def test_properties_that_do_not_exist_show_a_dash_never_n_a():
    # log(x) is undefined for x <= 0: no E[f(z)] over z ~ N(0, 1), so no zero-centredness either.
    at = open_page(GALLERY, {"act": "relu", "custom": "1", "expr": "log(x)"})
    assert_clean(at)
    table = at.table[0].value.set_index("activation")
    log_row = table.loc[[i for i in table.index if "log" in i][0]]
    assert log_row["zero-centred"] == "—"
    assert table.loc["ReLU", "zero-centred"].startswith("no (E[f(z)] = 0.399")  # 1/sqrt(2 pi)
    cells = [str(v) for v in table.to_numpy().ravel()]
    assert not [c for c in cells if "n/a" in c or c in ("None", "nan", "")], cells


def test_empty_selection_and_inverted_range_are_explained_not_crashed():
    at = open_page(GALLERY)
    at.multiselect(key="g_act").set_value([]).run()
    assert_clean(at)
    assert any("Choose at least one activation" in i.value for i in at.info)
    at.multiselect(key="g_act").set_value(["tanh"]).run()
    at.number_input(key="g_xmin").set_value(4.0).run()
    at.number_input(key="g_xmax").set_value(-4.0).run()
    assert_clean(at)
    assert any("must be below" in e.value for e in at.error)
    x, _ = _xy(_trace_for(figures(at)[0], "tanh()", "y"))
    assert x[0] < x[-1]
