"""The training lab's "Learned" charts: learnable activation parameters per epoch and the learned shape."""

from __future__ import annotations

import streamlit as st

from actviz.training.jobs import JobSnapshot
from actviz.views import learned

CONFIG = {"displaylogo": False}


def learned_charts(job: JobSnapshot, stacked: bool) -> None:
    """Each learned parameter over the epochs, then one run's activation morphing as it learned."""
    st.plotly_chart(learned.parameter_figure(job, 160 if stacked else 200, 2 if stacked else 4),
                    key="t_chart_learned", config=CONFIG)
    st.caption("Each learned parameter after every epoch (epoch 0: where it started), in its run's colour; "
               "hidden layer 1 solid, layer 2 dashed, layer 3 dotted.")
    runs = [i for i, r in enumerate(job.runs) if learned.learning_layers(job.config, i) and r.history]
    if not runs:
        st.caption("The learned shapes appear after the first epoch.")
        return
    pick = st.selectbox("Learned shape of", runs, format_func=lambda i: job.runs[i].label, key="t_learned_run")
    figure = learned.shape_figure(job, pick if pick in runs else runs[0])
    if figure is not None:
        st.plotly_chart(figure, key="t_chart_learned_shape", config=CONFIG)
    st.caption("The learned activation after each epoch: the slider and ▶ move through the epochs in your "
               "browser; the grey dashed curve is the activation before training.")
