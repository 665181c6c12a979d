"""The training lab's network view: one run's network as one image (every neuron over the input plane, the
weights as edges, the output with the data), refreshed with the live panel, and one picked neuron's
pre-activations over the data on top of its activation's f′."""

from __future__ import annotations

import streamlit as st

from actviz.errors import InputError
from actviz.plots import network_view as plots
from actviz.training.jobs import FINISHED, JobManager, JobSnapshot
from actviz.views import network_view
from ui.text import escape

NO_NEURON = "—"


def _weights(manager: JobManager, token: str, job: JobSnapshot, shown: JobSnapshot, run: int):
    """The weights to draw: what the engine last published, else the finished job's trained model."""
    live = network_view.live_weights(shown.runs[run])
    if live is not None:
        return live
    if job.status in FINISHED and shown is job:
        model = manager.model(job.id, token, run)
        if model is not None:
            return network_view.weights_of(model)
    return None


def network_panel(manager: JobManager, token: str, job: JobSnapshot, shown: JobSnapshot) -> None:
    labels = [r.label for r in job.runs]
    run = 0
    if len(labels) > 1:
        key = f"t_nv_run_{job.id}"
        if len(labels) <= 6:
            picked = st.segmented_control("Network of", list(range(len(labels))), key=key, default=0,
                                          format_func=lambda i: labels[i], label_visibility="collapsed")
        else:  # several seeds per activation: too many for a row of buttons
            picked = st.selectbox("Network of", list(range(len(labels))), key=key, format_func=lambda i: labels[i],
                                  label_visibility="collapsed")
        run = picked if isinstance(picked, int) else 0
    weights = _weights(manager, token, job, shown, run)
    if weights is None:
        st.caption("During a replay the network view shows a run's weights once the replay reaches the end of "
                   "that run (only its final weights are kept)." if shown is not job else
                   "The network view appears with the first weights this run publishes (for a finished job: "
                   "once its trained model is available).")
        return
    selected = _selected(job)
    try:
        pic = network_view.cached_picture(shown, run, weights, selected)
        image = network_view.cached_png(shown, run, weights, selected)
    except InputError as exc:
        st.caption(f"No network view: {escape(exc)}")
        return
    if job.status in FINISHED and shown is job:
        # Finished: the same picture as an interactive figure — hover names each neuron, a click picks it.
        event = st.plotly_chart(network_view.cached_figure(shown, run, weights, selected), key=f"t_nv_fig_{job.id}",
                                on_select="rerun", selection_mode="points", config={"displayModeBar": False})
        _pick_from(event, job)
    else:  # live: one image per refresh keeps the page responsive (a figure re-mounts and blanks)
        st.image(image, width="stretch", output_format="PNG")
    st.caption("Each square: one neuron's output over the input plane (blue > 0 > orange, each on its own "
               "scale; a red cross marks a dead neuron). Edges: blue positive, orange negative weights, thicker "
               "for larger |w|. Right: the output over the plane with the training data.")
    neuron_picker(job, shown, run, weights, pic)


def _pick_from(event, job: JobSnapshot) -> None:
    """A click on a neuron of the figure picks it in the neuron picker below (drawn after this)."""
    points = (getattr(event, "selection", None) or {}).get("points") or []
    custom = points[0].get("customdata") if points else None
    if isinstance(custom, (list, tuple)) and len(custom) == 2:
        picked = (int(custom[0]), int(custom[1]))
        if st.session_state.get(f"t_nv_neuron_{job.id}") != picked:
            st.session_state[f"t_nv_neuron_{job.id}"] = picked
            st.rerun()


def _selected(job: JobSnapshot) -> tuple[int, int] | None:
    value = st.session_state.get(f"t_nv_neuron_{job.id}")
    if isinstance(value, tuple) and len(value) == 2:
        return value
    return None


def neuron_picker(job: JobSnapshot, shown: JobSnapshot, run: int, weights, pic: plots.NetworkPicture) -> None:
    options: list = [NO_NEURON] + [(layer, unit) for layer, grids in enumerate(pic.hidden)
                                   for unit in range(len(grids))]
    names = {o: (f"{pic.hidden_titles[o[0]]}, neuron {o[1] + 1}" if isinstance(o, tuple) else "pick a neuron…")
             for o in options}
    choice = st.selectbox("Look at one neuron", options, key=f"t_nv_neuron_{job.id}", format_func=names.get,
                          help="Its pre-activation over the training data, on top of its activation's slope f′: "
                               "where the data sit in saturated or dead regions.")
    if not isinstance(choice, tuple):
        return
    detail = network_view.cached_detail(shown, run, weights, *choice)
    st.plotly_chart(plots.neuron_figure(detail), key=f"t_nv_detail_{job.id}", config={"displayModeBar": False})
    st.caption(plots.shade_legend(detail))
