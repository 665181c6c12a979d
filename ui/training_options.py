"""The training lab's sidebar widgets for the engine's options (TensorFlow Playground's input features and
regularisation, dropout, several seeds, a different activation per layer, learning-rate schedules, stop
conditions).  Each widget is the field of the lab's table with the same name (``{prefix}{link key}``),
so the link, the lesson locks and the form read them without anything else to wire."""

from __future__ import annotations

import streamlit as st

from actviz import limits
from actviz.data import datasets
from actviz.network import features as features_mod
from actviz.training import schedule as schedule_mod
from actviz.views.training_lab import TRAINING_LAB

key = TRAINING_LAB.widget_key


def input_features(dataset: str) -> None:
    """2-D data: which features of (x1, x2) the network receives."""
    if dataset not in datasets.SYNTHETIC:
        return
    st.multiselect("Input features", list(features_mod.NAMES), key=key("features"),
                   format_func=lambda n: features_mod.labels([n])[0],
                   help="What the first layer receives for each point (x₁, x₂): the coordinates, their squares, "
                        "their product, their sines — as in TensorFlow Playground.")


def csv_task() -> None:
    st.radio("Task", datasets.TASKS, key=key("task"), horizontal=True,
             format_func={"classification": "classify the label", "regression": "predict a number"}.get,
             help="Regression: the label column is a number to predict (MSE loss; test R² and RMSE).")


def per_layer_items() -> None:
    st.text_input("One activation per hidden layer (optional)", key=key("layer_items"),
                  placeholder="relu>tanh, tanh>relu",
                  help="Extra race items, each giving one activation per hidden layer from input to output, "
                       "separated by '>'; items separated by commas.")


def regularisation() -> None:
    c1, c2 = st.columns(2)
    c1.number_input("L1 rate", *limits.REGULARISATION_RANGE, step=0.001, format="%.4g", key=key("l1"))
    c2.number_input("L2 rate", *limits.REGULARISATION_RANGE, step=0.001, format="%.4g", key=key("l2"))
    st.slider("Dropout (hidden units, while training)", *limits.DROPOUT_RANGE, step=0.05, key=key("dropout"))


def schedule() -> None:
    chosen = st.selectbox("Learning-rate schedule", schedule_mod.SCHEDULES, key=key("schedule"),
                          format_func=schedule_mod.LABELS.get)
    c1, c2 = st.columns(2)
    c1.number_input("Warm-up", 0, limits.MAX_EPOCHS - 1, key=key("warmup"),
                    help="How many epochs the learning rate rises linearly to its value at the start.")
    if chosen == "step":
        c2.number_input("Step interval", 1, limits.MAX_EPOCHS, key=key("lr_step"),
                        help="Every this many epochs the learning rate is multiplied by the factor below.")
        st.number_input("Multiply by", *limits.LR_GAMMA_RANGE, format="%.3g", key=key("lr_gamma"))


def seeds() -> None:
    st.number_input("Seeds per activation", 1, limits.MAX_SEEDS, key=key("seeds"),
                    help="Train each activation from several initial weights: the results give mean ± std and "
                         "say whether the winner's margin is beyond seed-to-seed noise.")


def stop_conditions() -> None:
    c1, c2 = st.columns([1.2, 1], vertical_alignment="bottom")
    if c1.toggle("Stop at validation accuracy", key=key("stop_on_acc")):
        c2.number_input("accuracy", 0.01, 1.0, step=0.01, format="%.2f", key=key("stop_acc"),
                        label_visibility="collapsed")
    c1, c2 = st.columns([1.2, 1], vertical_alignment="bottom")
    if c1.toggle("Stop below training loss", key=key("stop_on_loss")):
        c2.number_input("loss", *limits.STOP_LOSS_RANGE, format="%.3g", key=key("stop_loss"),
                        label_visibility="collapsed")
