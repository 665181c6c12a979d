"""Below the live panel: a finished job's results, downloads and 'inside the model'; loading a checkpoint."""

from __future__ import annotations

import streamlit as st

from actviz.errors import InputError
from actviz.network import checkpoint
from actviz.plots import training_figures
from actviz.training.jobs import FINISHED, JobManager, JobSnapshot
from actviz.views import race_stats, training_lab
from actviz.views.tables import readable
from ui.boundary import guard
from ui.text import escape


def _pct(value: float) -> str:
    return f"{value:.2%}"


# How the results table writes its numbers (st.table of readable strings: full headers, "—" for none).
RESULT_FORMATS = {"test accuracy": _pct, "best val accuracy": _pct, "dead neurons": _pct, "s / epoch": "%.3f",
                  "test R²": "%.4f", "test RMSE": "%.4g", "best epoch": "%d", "epochs run": "%d"}


SEED_FORMATS = {"mean test accuracy": _pct, "± std": "%.4f", "mean test R²": "%.4f", "mean test loss": "%.4g",
                "seeds": "%d"}


def results_section(manager: JobManager, token: str, job: JobSnapshot) -> None:
    with guard("The results"):
        _results_section(manager, token, job)


def _results_section(manager: JobManager, token: str, job: JobSnapshot) -> None:
    if job.status not in FINISHED or not any(r.history for r in job.runs):
        return
    st.subheader("Results")
    if int(getattr(job.config, "seeds", 1) or 1) > 1:
        summary, verdict = race_stats.race_summary(job)
        st.table(readable(summary, SEED_FORMATS).assign(activation=lambda d: d["activation"].map(escape))
                 .set_index("activation"))
        (st.success if verdict.beyond_noise else st.info)(escape(verdict.text))
        st.caption("Each activation trained from several seeds (initial weights, batch order, dropout masks): "
                   "mean ± standard deviation and a 95 % interval over its seeds; every run below.")
    table = training_figures.results_table(job.runs, training_lab.task_of(job.config))
    table = table.rename(columns={"best val accuracy": "best validation accuracy"})
    formats = {("best validation accuracy" if k == "best val accuracy" else k): f for k, f in RESULT_FORMATS.items()}
    shown = readable(table, formats)
    for column in ("activation", "status", "learned", "note"):  # words from labels, formulas and messages
        shown[column] = shown[column].map(escape)
    st.table(shown.set_index("activation"))
    st.caption("One row per run, best first. Test accuracy is that of the weights each run keeps: with early "
               "stopping those of its best validation epoch (as the UvA Deep Learning tutorial 3 reloads its best "
               "checkpoint). Dead neurons: hidden units whose output is exactly 0 for every training sample.")
    confusion = training_lab.confusion_chart(job)
    if confusion is not None:
        st.plotly_chart(confusion, key="t_confusion", config={"displaylogo": False})
    c1, c2 = st.columns(2)
    # Downloads are made when clicked (callables), not on every rerun of a finished job's page.
    c1.download_button("Download all metrics (CSV)", lambda: training_lab.metrics_csv(job),
                       file_name=f"actviz_metrics_{job.id[:6]}.csv", mime="text/csv", key="t_dl_csv",
                       on_click="ignore")
    with c2:
        runs = [i for i, r in enumerate(job.runs) if r.history]
        pick = st.selectbox("Trained model", runs, format_func=lambda i: job.runs[i].label, key="t_ckpt_run")
        model = manager.model(job.id, token, pick)
        if model is not None:
            st.download_button("Download checkpoint (.zip: state dict + JSON config)",
                               lambda: training_lab.checkpoint_bytes(job, pick, model),
                               file_name=training_lab.file_stem(job, pick) + ".zip", mime="application/zip",
                               key="t_dl_ckpt", on_click="ignore")
    inside_the_model(manager, token, job)


INSIDE_KEY = "t_inside_open"


def inside_the_model(manager: JobManager, token: str, job: JobSnapshot) -> None:
    box = st.expander("Inside the trained models: activation distributions and dead neurons", expanded=False,
                      key=INSIDE_KEY, on_change="rerun")
    if not box.open:  # computed only once opened: a finished job's page reruns cheaply for a whole class
        return
    with box, guard("Inside the trained models"):
        trained = [manager.model(job.id, token, i) for i in range(len(job.runs))]
        if any(m is None for m in trained) or not trained:
            st.caption("This job was interrupted by a server restart before its models were saved; **Resume** "
                       "(when offered) or **Run again** trains them." if job.status == "interrupted" else
                       "The trained models are no longer kept for this job.")
            return
        if not trained[0].hidden:
            st.caption("This network has no hidden layer.")
            return
        with st.spinner("Looking inside the trained networks…"):
            view = training_lab.inside(job, trained)
        for label, why in view.skipped.items():
            st.caption(f"{escape(label)} is not shown: {escape(why)}.")
        if not view.reports:
            return
        hist, dead = view.figures
        st.plotly_chart(hist, key="t_inside_hist", config={"displaylogo": False})
        st.plotly_chart(dead, key="t_inside_dead", config={"displaylogo": False})
        st.table(readable(view.table))  # "—" where a run has no value (a note, a learned parameter)
        st.caption("Histograms: outputs of each hidden layer for 512 training samples. Dead units output "
                   "exactly 0 for every training sample (the UvA Deep Learning tutorial 3's definition).")


def load_checkpoint_panel() -> None:
    with guard("The checkpoint panel"):
        _load_checkpoint_panel()


def _load_checkpoint_panel() -> None:
    upload = st.file_uploader("An actviz checkpoint (.zip with model.pt and config.json)", type=["zip"],
                              key="t_ckpt_upload")
    if upload is None:
        return
    try:
        loaded = checkpoint.load(upload.getvalue())
    except InputError as exc:
        st.error(f"{escape(upload.name)}: {escape(exc)}")
        return
    model = loaded.model
    st.success(f"Loaded a {model.n_in}-{'-'.join(str(h) for h in model.hidden)}-{model.n_out} network with "
               f"{escape(loaded.label)}.")
    held = training_lab.checkpoint_table(loaded)
    held["in this file"] = held["in this file"].map(lambda v: escape(str(v)[:200]))  # st.table renders Markdown
    st.table(held.set_index(""))
    try:
        st.metric("Test accuracy now (evaluated here)", f"{checkpoint.evaluate(loaded)['test_acc']:.2%}")
    except InputError as exc:
        st.caption(f"Could not evaluate it here: {escape(exc)}")
