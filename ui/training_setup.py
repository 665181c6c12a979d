"""Sidebar of the training lab: presets and every setting of a job, read into a TrainingForm."""

from __future__ import annotations

import streamlit as st

from actviz import activations, limits
from actviz.data import datasets
from actviz.errors import InputError
from actviz.views.lessons import training_presets
from actviz.views.training_lab import TRAINING_LAB, TrainingForm, form_from_config
from actviz.views.urlstate import same_except
from ui import training_options as opts
from ui.boundary import guard
from ui.text import escape
from ui.urlsync import put_widgets, state_from_link, sync_query_params
from ui.widgets import DATASET_LABELS, idx_dataset_panel, init_widgets, param_sliders, put_bias

key = TRAINING_LAB.widget_key


def _put(form: TrainingForm, overwrite: bool) -> None:
    put_widgets(TRAINING_LAB, form, overwrite)
    put_bias(TRAINING_LAB, form.bias, overwrite)
    for name in form.selected:
        act = activations.get(name)
        current = {**act.defaults(), **form.params.get(name, {})}
        for p in act.params:
            k = f"t_p_{name}_{p.name}"
            if overwrite or k not in st.session_state:
                st.session_state[k] = float(current[p.name])
            if p.learnable and (overwrite or f"t_l_{name}_{p.name}" not in st.session_state):
                st.session_state[f"t_l_{name}_{p.name}"] = p.name in form.learnable.get(name, [])


def _apply_preset() -> None:
    preset = training_presets().get(st.session_state.get("t_preset_choice"))
    if preset is not None:
        form = form_from_config(preset.config)
        form.preset = preset.key
        _put(form, overwrite=True)
        st.session_state.t_state = form


def render_setup() -> TrainingForm | None:
    """Draw the sidebar and return what it says (not yet validated).  The page address is the setup:
    decoded on the session's first visit, written back after every change (never the jobs).  None if
    drawing it failed: the message says why, and the page still shows the user's jobs."""
    with guard("The settings"):
        return _render_setup()
    return None


def _render_setup() -> TrainingForm:
    first_visit = "t_state" not in st.session_state
    linked: TrainingForm = state_from_link(TRAINING_LAB, "t_state")
    _put(linked, overwrite=False)
    if first_visit and linked.preset in training_presets():
        st.session_state.t_preset_choice = linked.preset
    with st.sidebar:
        st.header("Preset")
        options = training_presets()
        st.selectbox("Reproduce a published experiment", list(options), key="t_preset_choice",
                     format_func=lambda k: options[k].title)
        st.button("Load preset", on_click=_apply_preset, key="t_load_preset", width="stretch")

        st.header("Data")
        name = st.selectbox("Dataset", list(DATASET_LABELS), key=key("dataset"), format_func=DATASET_LABELS.get)
        if name in datasets.SYNTHETIC:
            c1, c2 = st.columns(2)
            c1.number_input("Samples", 100, 20000, step=100, key=key("n_samples"))
            c2.slider("Noise", 0.0, 1.0, step=0.05, key=key("noise"))
            st.number_input("Data seed", 0, limits.MAX_SEED, key=key("data_seed"))
            opts.input_features(name)
        elif name in ("mnist", "fashion_mnist"):
            idx_dataset_panel(name, key="t_download_data")
        csv_key, label, csv_error = _csv_upload() if name == "csv" else (None, None, None)
        if name == "csv":
            opts.csv_task()
        st.number_input("Use at most this many training samples (0 = all)", 0, 1_000_000, step=1000,
                        key=key("max_train"), help="Quick runs on big datasets.")

        st.header("Activations")
        chosen = st.multiselect("Activations to race", activations.names(), key=key("selected"),
                                format_func=lambda n: activations.get(n).label)
        params, learnable = _activation_params(chosen)
        with st.expander("Custom formula (optional)"):
            st.text_input("f(x) =", key=key("custom_expr"), placeholder="x * sigmoid(beta * x)")
            st.text_input("Parameters", key=key("custom_params"), placeholder="beta=1.0")
        opts.per_layer_items()

        st.header("Network")
        st.text_input("Hidden layer sizes", key=key("hidden"), help="Comma-separated, e.g. 512,256,256,128 or 256x5")
        _, bias = init_widgets(TRAINING_LAB)
        with st.expander("Regularisation and dropout", expanded=_changed("l1", "l2", "dropout")):
            opts.regularisation()

        st.header("Training")
        opt = st.radio("Optimizer", ("adam", "sgd"), key=key("optimizer"), horizontal=True,
                       format_func={"adam": "Adam", "sgd": "SGD + momentum"}.get)
        st.number_input("Learning rate", *limits.LR_RANGE, format="%.6g", key=key("lr"))
        if opt == "sgd":
            st.slider("Momentum", 0.0, 0.99, step=0.01, key=key("momentum"))
        c1, c2 = st.columns(2)
        c1.number_input("Batch size (0 = full)", 0, limits.MAX_BATCH, key=key("batch_size"))
        c2.number_input("Epochs", 1, limits.MAX_EPOCHS, key=key("epochs"))
        if st.toggle("Early stopping", key=key("early_stopping")):
            st.number_input("Patience (epochs without a better validation accuracy)", 1, limits.MAX_EPOCHS,
                            key=key("patience"))
        st.number_input("Seed (same initial weights for every activation)", 0, limits.MAX_SEED, key=key("seed"))
        opts.seeds()
        with st.expander("Learning-rate schedule and stop conditions",
                         expanded=_changed("schedule", "warmup", "stop_on_acc", "stop_on_loss")):
            opts.schedule()
            opts.stop_conditions()

    form = TRAINING_LAB.from_widgets(st.session_state, TrainingForm())
    form.selected, form.params, form.learnable, form.bias = list(chosen), params, learnable, bias
    form.csv_key, form.label_column, form.csv_error = csv_key, label, csv_error
    form.preset = _still_preset(linked.preset, form)
    st.session_state.t_state = form
    sync_query_params(TRAINING_LAB.encode(form))
    return form


def _changed(*attrs: str) -> bool:
    """Whether any of these settings differs from its default (their expander then starts open)."""
    default = TrainingForm()
    return any(st.session_state.get(key(a), getattr(default, a)) != getattr(default, a) for a in attrs)


def _still_preset(key: str | None, form: TrainingForm) -> str | None:
    """The preset marker stays in the link only while the setup is still that preset's."""
    preset = training_presets().get(key) if key else None
    if preset is None:
        return None
    return key if same_except(TRAINING_LAB, form, form_from_config(preset.config), "preset") else None


def preset_note(form: TrainingForm) -> tuple[str, str, str] | None:
    """(title, explanation, fallback note) of the preset the setup still is, if any."""
    preset = training_presets().get(form.preset) if form.preset else None
    return (preset.title, preset.explanation, preset.fallback_note) if preset else None


def describe_form(form: TrainingForm) -> str:
    """One line summing up the setup beside the Start button (no validation: shows what is typed)."""
    labels = []
    for name in form.selected:
        try:
            labels.append(activations.get(name).label)
        except InputError:
            labels.append(name)
    if form.custom_expr.strip():
        labels.append(f"f(x) = {form.custom_expr.strip()[:30]}")
    data = datasets.TITLES.get(form.dataset, form.dataset)
    opt = "Adam" if form.optimizer == "adam" else f"SGD (momentum {form.momentum:g})"
    batch = "full batch" if not form.batch_size else f"batch {form.batch_size}"
    stop = f", early stopping after {form.patience}" if form.early_stopping else ""
    return (f"{', '.join(labels) or 'no activation yet'} on {data}; hidden {form.hidden or 'none'}; {opt}, "
            f"lr {form.lr:g}, {batch}, {form.epochs} epochs{stop}; seed {form.seed}.")


def _activation_params(chosen: list[str]) -> tuple[dict[str, dict[str, float]], dict[str, list[str]]]:
    params: dict[str, dict[str, float]] = {}
    learnable: dict[str, list[str]] = {}
    for name in chosen:
        values, learned = param_sliders(name, "t_p", learnable_prefix="t_l")
        defaults = activations.get(name).defaults()
        values = {k: v for k, v in values.items() if v != defaults.get(k)}  # the link keeps what differs
        if values:
            params[name] = values
        if learned:
            learnable[name] = learned
    return params, learnable


def _csv_upload() -> tuple[str | None, str | None, str | None]:
    """(csv key, label column, why the uploaded file cannot be used): the error stays on screen for as long
    as the file does, and Start repeats it instead of asking for a file."""
    upload = st.file_uploader("CSV file: numeric feature columns and a label column", type=["csv"],
                              key="t_csv_file")
    if upload is None:
        return None, None, None
    label = st.text_input("Label column (empty: 'label', 'target', 'class', 'y' or the last column)",
                          key="t_label_column") or None
    try:
        spec = datasets.register_csv(upload.getvalue(), label)
        ds = datasets.load(spec)  # splitting and standardising can refuse the table too
    except InputError as exc:
        st.error(f"{escape(upload.name)}: {escape(exc)}")
        return None, None, f"{upload.name} could not be used: {exc}"
    st.caption(escape(ds.description))
    return spec.csv_key, spec.label_column, None
