"""The gallery's newer parts as a person uses them (AppTest): gated units drawn as surfaces, the instant
morph chart, the measured cost table and custom formulas shown as mathematics."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from tests.app.helpers import assert_clean, figures, open_page

GALLERY = "app_pages/gallery.py"


def _series(fig: dict, name: str) -> list[dict]:
    return [t for t in fig["data"] if (t.get("meta") or {}).get("series") == name]


def test_gated_units_are_drawn_as_surfaces_beside_their_slice():
    at = open_page(GALLERY, {"act": "relu,swiglu,glu"})
    assert_clean(at)
    figs = figures(at)
    assert len(figs) == 3  # the element-wise chart (ReLU) and one three-panel chart per gated unit
    main, swiglu, glu = figs
    assert {(t.get("meta") or {}).get("activation") for t in main["data"]} == {"relu()"}
    for fig in (swiglu, glu):
        assert [t["type"] for t in fig["data"][:3]] == ["surface", "contour", "scatter"]
        assert _series(fig, "gradient") and _series(fig, "y") and _series(fig, "dy")
    surface = _series(glu, "surface")[0]
    a, b, z = np.asarray(surface["x"]), np.asarray(surface["y"]), np.asarray(surface["z"])
    np.testing.assert_allclose(z, expit(a)[None, :] * b[:, None], rtol=1e-12)  # rows are b
    assert any("Gated units" in h.value for h in at.subheader)
    labels = list(at.table[0].value["activation"])
    assert "SwiGLU (slice b = 1)" in labels and "GLU (slice b = 1)" in labels


def test_a_gated_units_parameter_slider_redraws_its_surface():
    at = open_page(GALLERY, {"act": "swiglu"})
    before = np.asarray(_series(figures(at)[0], "surface")[0]["z"])
    at.slider(key="g_p_swiglu_beta").set_value(3.0).run()
    assert_clean(at)
    surface = _series(figures(at)[0], "surface")[0]
    a, b, z = (np.asarray(surface[k]) for k in ("x", "y", "z"))
    assert not np.allclose(before, z)
    np.testing.assert_allclose(z, (a * expit(3.0 * a))[None, :] * b[:, None], rtol=1e-12, atol=1e-15)
    assert at.query_params["swiglu.beta"] in (["3"], "3")


def _morph_chart(at) -> dict | None:
    return next((f for f in figures(at) if f.get("frames")), None)


def test_a_morph_link_opens_the_browser_played_chart():
    at = open_page(GALLERY, {"act": "swish", "morph": "swish.beta"})
    assert_clean(at)
    fig = _morph_chart(at)
    assert fig is not None and len(figures(at)) == 1  # the morph chart stands in for the usual one
    assert at.selectbox(key="g_morph").value == "swish.beta"
    (slider,) = fig["layout"]["sliders"]
    frames = fig["frames"]
    assert len(frames) == len(slider["steps"]) >= 40
    assert all(step["args"][1]["frame"]["redraw"] is False for step in slider["steps"])
    beta = float(slider["steps"][-1]["label"])
    x = np.asarray(fig["data"][0]["x"], dtype=float)
    np.testing.assert_allclose(frames[-1]["data"][0]["y"], x * expit(beta * x), rtol=1e-6, atol=1e-6)
    assert slider["steps"][slider["active"]]["label"] == "1"  # starts at the sidebar's beta
    assert fig["layout"]["yaxis"]["autorange"] is False
    assert at.query_params["morph"] in (["swish.beta"], "swish.beta")


def test_the_morph_picker_follows_the_selection_and_the_sidebar_value():
    at = open_page(GALLERY, {"morph": "elu.alpha"})
    assert_clean(at)
    assert "elu" in at.multiselect(key="g_act").value  # the link's morph brings its activation along
    figs = figures(at)
    assert len(figs) == 2 and figs[0].get("frames") and not figs[1].get("frames")  # morph chart first
    at.slider(key="g_p_elu_alpha").set_value(0.5).run()
    (slider,) = _morph_chart(at)["layout"]["sliders"]
    assert slider["steps"][slider["active"]]["label"] == "0.5"
    at.selectbox(key="g_morph").set_value("").run()
    assert_clean(at)
    assert _morph_chart(at) is None and "morph" not in at.query_params
    at.selectbox(key="g_morph").set_value("elu.alpha").run()
    at.multiselect(key="g_act").set_value(["relu"]).run()  # elu removed: its morph goes with it
    assert_clean(at)
    assert _morph_chart(at) is None and at.selectbox(key="g_morph").value == ""


def test_a_bad_morph_link_warns_and_shows_no_morph_chart():
    at = open_page(GALLERY, {"act": "swish", "morph": "swish.gamma"})
    assert_clean(at)
    assert _morph_chart(at) is None
    assert any("morph" in w.value and "gamma" in w.value for w in at.warning)


def test_the_cost_table_is_measured_and_says_how():
    at = open_page(GALLERY, {"act": "relu,gelu,swiglu"})
    assert_clean(at)
    assert any(h.value.startswith("Cost") for h in at.subheader)
    table = at.table[1].value.set_index("activation")
    assert list(table.index) == ["ReLU", "GELU", "SwiGLU"]
    assert list(table.columns) == ["forward vs ReLU", "forward+backward vs ReLU", "peak memory, bytes/element",
                                   "forward, ns/element", "forward+backward, ns/element"]
    assert list(table["peak memory, bytes/element"][:2]) == ["8", "8"]
    for value in table["forward vs ReLU"]:
        assert value.endswith("×") and float(value[:-1]) > 0
    assert any("one thread" in c.value and "2²²" in c.value for c in at.caption)


def test_a_custom_formula_is_typeset_with_its_symbolic_derivative():
    at = open_page(GALLERY, {"act": "relu", "custom": "1", "expr": "x * sigmoid(beta * x)", "eparams": "beta=2"})
    assert_clean(at)
    latex = [e.value.strip("$\n") for e in at.latex]  # st.latex wraps the text in $$ ... $$
    assert r"f(x) = x \sigma\left(\beta x\right)" in latex
    assert any(v.startswith("f'(x) = ") and r"\left(1 - \sigma\left(\beta x\right)\right)" in v for v in latex)
    at.text_input(key="g_expr").set_value("hardtanh(x) * x").run()
    assert_clean(at)
    assert r"f(x) = x \operatorname{hardtanh}{\left(x \right)}" in [e.value.strip("$\n") for e in at.latex]
    assert any("no symbolic derivative" in c.value.lower() and "autograd" in c.value for c in at.caption)
