"""Sidebar of the training lab: presets and every setting of a job, read into a TrainingForm."""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from actviz import activations, datasets, training_presets
from actviz.errors import InputError
from actviz.training_form import TrainingForm, form_from_config
from ui.common import DATASET_LABELS, idx_dataset_panel, init_widgets, param_sliders

_SCALARS = ("dataset", "n_samples", "noise", "data_seed", "data_dir", "max_train", "activations", "custom_expr",
            "custom_params", "hidden", "init", "init_std", "init_low", "init_high", "init_value", "bias_const",
            "bias_value", "optimizer", "lr", "momentum", "batch_size", "epochs", "early_stopping", "patience",
            "seed")


def _put(form: TrainingForm, overwrite: bool) -> None:
    values = asdict(form)
    for name in _SCALARS:
        key = f"t_{name}"
        if overwrite or key not in st.session_state:
            st.session_state[key] = values[name]
    for name in form.activations:
        act = activations.get(name)
        current = {**act.defaults(), **form.params.get(name, {})}
        for p in act.params:
            key = f"t_p_{name}_{p.name}"
            if overwrite or key not in st.session_state:
                st.session_state[key] = float(current[p.name])
            if p.learnable and (overwrite or f"t_l_{name}_{p.name}" not in st.session_state):
                st.session_state[f"t_l_{name}_{p.name}"] = p.name in form.learnable.get(name, [])


def _apply_preset() -> None:
    key = st.session_state.get("t_preset_choice")
    preset = training_presets.presets().get(key)
    if preset is not None:
        _put(form_from_config(preset.config), overwrite=True)
        st.session_state.t_preset_note = (preset.title, preset.explanation, preset.fallback_note)


def render_setup() -> TrainingForm:
    """Draw the sidebar and return what it says (not yet validated)."""
    _put(TrainingForm(), overwrite=False)
    with st.sidebar:
        st.header("Preset")
        options = training_presets.presets()
        st.selectbox("Reproduce a seed's run", list(options), key="t_preset_choice",
                     format_func=lambda k: options[k].title)
        st.button("Load preset", on_click=_apply_preset, key="t_load_preset", width="stretch")

        st.header("Data")
        name = st.selectbox("Dataset", list(DATASET_LABELS), key="t_dataset", format_func=DATASET_LABELS.get)
        if name in datasets.SYNTHETIC:
            c1, c2 = st.columns(2)
            c1.number_input("Samples", 100, 20000, step=100, key="t_n_samples")
            c2.slider("Noise", 0.0, 1.0, step=0.05, key="t_noise")
            st.number_input("Data seed", 0, 2**31 - 1, key="t_data_seed")
        elif name in ("mnist", "fashion_mnist"):
            idx_dataset_panel(name, key="t_download_data")
        csv_key, label = _csv_upload() if name == "csv" else (None, None)
        st.number_input("Use at most this many training samples (0 = all)", 0, 1_000_000, step=1000,
                        key="t_max_train", help="Quick runs on big datasets.")

        st.header("Activations")
        chosen = st.multiselect("Activations to race", activations.names(), key="t_activations",
                                format_func=lambda n: activations.get(n).label)
        params, learnable = _activation_params(chosen)
        with st.expander("Custom formula (optional)"):
            st.text_input("f(x) =", key="t_custom_expr", placeholder="x * sigmoid(beta * x)")
            st.text_input("Parameters", key="t_custom_params", placeholder="beta=1.0")

        st.header("Network")
        st.text_input("Hidden layer sizes", key="t_hidden", help="Comma-separated, e.g. 512,256,256,128 or 256x5")
        init_widgets("t_", {"init": "init", "std": "init_std", "low": "init_low", "high": "init_high",
                            "value": "init_value", "bias_on": "bias_const", "bias": "bias_value"})

        st.header("Training")
        opt = st.radio("Optimizer", ("adam", "sgd"), key="t_optimizer", horizontal=True,
                       format_func={"adam": "Adam", "sgd": "SGD + momentum"}.get)
        st.number_input("Learning rate", 1e-6, 100.0, format="%.6g", key="t_lr")
        if opt == "sgd":
            st.slider("Momentum", 0.0, 0.99, step=0.01, key="t_momentum")
        c1, c2 = st.columns(2)
        c1.number_input("Batch size (0 = full)", 0, 65536, key="t_batch_size")
        c2.number_input("Epochs", 1, 1000, key="t_epochs")
        if st.toggle("Early stopping", key="t_early_stopping"):
            st.number_input("Patience (epochs without a better validation accuracy)", 1, 1000, key="t_patience")
        st.number_input("Seed (same initial weights for every activation)", 0, 2**31 - 1, key="t_seed")

    values = {n: st.session_state[f"t_{n}"] for n in _SCALARS}
    values["activations"] = list(chosen)
    return TrainingForm(**values, params=params, learnable=learnable, csv_key=csv_key, label_column=label)


def _activation_params(chosen: list[str]) -> tuple[dict[str, dict[str, float]], dict[str, list[str]]]:
    params: dict[str, dict[str, float]] = {}
    learnable: dict[str, list[str]] = {}
    for name in chosen:
        values, learned = param_sliders(name, "t_p", learnable_prefix="t_l")
        if values:
            params[name] = values
        if learned:
            learnable[name] = learned
    return params, learnable


def _csv_upload() -> tuple[str | None, str | None]:
    upload = st.file_uploader("CSV file: numeric feature columns and a label column", type=["csv"],
                              key="t_csv_file")
    if upload is None:
        return None, None
    label = st.text_input("Label column (empty: 'label', 'target', 'class', 'y' or the last column)",
                          key="t_label_column") or None
    try:
        spec = datasets.register_csv(upload.getvalue(), label)
    except InputError as exc:
        st.error(f"{upload.name}: {exc}")
        return None, None
    ds = datasets.load(spec)
    st.caption(f"{ds.description}")
    return spec.csv_key, spec.label_column
