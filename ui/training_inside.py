"""'Inside the model' for a finished job, and loading a checkpoint back."""

from __future__ import annotations

import streamlit as st

from actviz.errors import InputError
from actviz.network import checkpoint
from actviz.plots import network_figures
from actviz.training.jobs import JobManager, JobSnapshot
from actviz.views import training_lab


def inside_the_model(manager: JobManager, token: str, job: JobSnapshot) -> None:
    with st.expander("Inside the trained models: activation distributions and dead neurons", expanded=False):
        trained = [manager.model(job.id, token, i) for i in range(len(job.runs))]
        if any(m is None for m in trained) or not trained:
            st.caption("The trained models are no longer kept for this job.")
            return
        if not trained[0].hidden:
            st.caption("This network has no hidden layer.")
            return
        with st.spinner("Looking inside the trained networks…"):
            view = training_lab.inside(job, trained)
        st.plotly_chart(network_figures.activation_hist_figure(view.reports, view.hidden_names),
                        key="t_inside_hist", config={"displaylogo": False})
        st.plotly_chart(network_figures.neuron_figure(view.reports, view.hidden_names, view.dead),
                        key="t_inside_dead", config={"displaylogo": False})
        st.dataframe(view.table, hide_index=True)
        st.caption("Histograms: outputs of each hidden layer for 512 training samples. Dead units output "
                   "exactly 0 for every training sample (the UvA Deep Learning tutorial 3's definition).")


def load_checkpoint_panel() -> None:
    upload = st.file_uploader("An actviz checkpoint (.zip with model.pt and config.json)", type=["zip"],
                              key="t_ckpt_upload")
    if upload is None:
        return
    try:
        loaded = checkpoint.load(upload.getvalue())
    except InputError as exc:
        st.error(f"{upload.name}: {exc}")
        return
    cfg = loaded.config
    model = loaded.model
    st.success(f"Loaded a {model.n_in}-{'-'.join(str(h) for h in model.hidden)}-{model.n_out} network with "
               f"{loaded.label}.")
    result = cfg.get("result") or {}
    dataset = (cfg.get("dataset") or {}).get("spec", "unknown data")
    if isinstance(result.get("test_acc"), (int, float)):
        st.caption(f"Trained on {dataset}; test accuracy when saved: {result['test_acc']:.2%}.")
    try:
        st.metric("Test accuracy now", f"{checkpoint.evaluate(loaded)['test_acc']:.2%}")
    except InputError as exc:
        st.caption(f"Could not evaluate it here: {exc}")
