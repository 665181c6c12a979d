"""The lab's figures and tables say exactly the numbers they are given: confusion counts with accuracy =
trace / sum, R² for regression, metric charts that fit beside the network view."""

from __future__ import annotations

import numpy as np

from actviz.plots import training_figures as tf
from actviz.training.config import EpochRecord, RunProgress, RunStatus


def test_the_confusion_heatmap_draws_every_count_and_its_accuracy():
    a = [[50, 3, 0], [4, 40, 6], [0, 2, 45]]
    b = [[53, 0, 0], [0, 50, 0], [1, 0, 46]]
    fig = tf.confusion_figure(["ReLU", "Sigmoid"], [a, b], ["setosa", "versicolor", "virginica"])
    heat = [t for t in fig.data if t.meta["series"] == "confusion"]
    assert [np.asarray(t.z).tolist() for t in heat] == [a, b]
    assert list(heat[0].x) == ["setosa", "versicolor", "virginica"] and heat[0].texttemplate == "%{z}"
    titles = [ann.text for ann in fig.layout.annotations]
    assert titles == [f"ReLU<br>{135 / 150:.1%} correct", f"Sigmoid<br>{149 / 150:.1%} correct"]
    assert fig.layout.yaxis.autorange == "reversed"  # the first true class on top, as the matrix is written


def record(epoch, loss, r2):
    rec = EpochRecord(epoch, loss, float("nan"), loss, float("nan"), loss, float("nan"), 0.01)
    if hasattr(rec, "test_r2"):
        object.__setattr__(rec, "test_r2", r2)
    return rec


def test_regression_results_rank_by_r2_and_show_the_rmse():
    runs = [RunProgress("ReLU", "relu", RunStatus.DONE, history=[record(1, 0.3, 0.7)],
                        summary={"test_r2": 0.71, "test_rmse": 0.52}),
            RunProgress("Tanh", "tanh", RunStatus.DONE, history=[record(1, 0.1, 0.9)],
                        summary={"test_r2": 0.93, "test_rmse": 0.25})]
    table = tf.results_table(runs, "regression")
    assert list(table["activation"]) == ["Tanh", "ReLU"]
    assert list(table["test R²"]) == [0.93, 0.71] and list(table["test RMSE"]) == [0.25, 0.52]
    assert "test accuracy" not in table and "best val accuracy" not in table
    assert [m for m, _, _ in tf.metrics_for("regression")] == ["train_loss", "test_loss", "test_r2"]


def test_metric_charts_without_a_legend_leave_room_only_for_the_axis_title():
    runs = [RunProgress("ReLU", "relu", RunStatus.DONE,
                        history=[EpochRecord(e, 1 / e, 0.5, 1.0, 0.5, 1.0, 0.5 + e / 20, 0.01) for e in (1, 2, 3)])]
    fig = tf.metric_figure(runs, "test_acc", "Test accuracy", "accuracy", 3, height=200, legend=False)
    assert fig.layout.showlegend is False and fig.layout.height == 200 and fig.layout.margin.b == 36
    ys = [t for t in fig.data if t.meta["series"] == "test_acc"][0].y
    assert np.allclose(ys, [0.55, 0.6, 0.65])
    with_legend = tf.metric_figure(runs, "test_acc", "Test accuracy", "accuracy", 3)
    assert with_legend.layout.legend.yref == "container" and with_legend.layout.legend.y == 0
    assert with_legend.layout.margin.b == 100
