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
    labels = list(at.dataframe[0].value["activation"])
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
