"""One-click training setups that reproduce the seeds' runs (and a quick classroom demo).

MNIST and FashionMNIST are used when their files are present; otherwise scikit-learn's bundled
digits stand in (same experiment, 8x8 images, so minutes become seconds) and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from actviz import datasets, models
from actviz.choice import ActivationChoice, choose
from actviz.training import TrainConfig


@dataclass(frozen=True)
class TrainingPreset:
    key: str
    title: str
    explanation: str
    config: TrainConfig
    fallback_note: str = ""
    sources: tuple[str, ...] = field(default=())


def _acts(*items: tuple[str, dict] | str) -> tuple[ActivationChoice, ...]:
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(choose(item))
        else:
            name, params = item
            learn = params.pop("_learn", ())
            out.append(choose(name, params, learn))
    return tuple(out)


def _image_dataset(name: str, data_dir: str | None) -> tuple[datasets.DatasetSpec, str]:
    """The MNIST-like spec if its files are there, else digits, with a note saying which."""
    if datasets.available(name, data_dir):
        return datasets.DatasetSpec(name=name, data_dir=data_dir), ""
    return (datasets.DatasetSpec(name="digits"),
            f"{datasets.TITLES.get(name, name)} files were not found, so scikit-learn's 8x8 digits stand in "
            f"(python -m actviz data download {name}, or point ACTVIZ_DATA_DIR at them).")


def presets(data_dir: str | None = None) -> dict[str, TrainingPreset]:
    mnist, mnist_note = _image_dataset("mnist", data_dir)
    fashion, fashion_note = _image_dataset("fashion_mnist", data_dir)
    return {p.key: p for p in (
        TrainingPreset(
            "demo", "Classroom race: five activations on moons",
            "ReLU, Sigmoid, Tanh, GELU and Swish learn the two half-moons from the same initial weights. "
            "Watch the sigmoid net lag behind while the others bend their decision boundary around the moons.",
            TrainConfig(datasets.DatasetSpec(name="moons", n_samples=1000, noise=0.2, seed=0),
                        _acts("relu", "sigmoid", "tanh", "gelu", "swish"), hidden=(16, 16),
                        optimizer="adam", lr=0.01, batch_size=64, epochs=40, seed=42)),
        TrainingPreset(
            "seed000", "Seed 000: MNIST MLP, four activations",
            "784-128-128-10, Adam (lr 1e-3), batch 64, 10 epochs, cross-entropy (tutorial 000). "
            "Reported: ReLU 97.99 %, Sigmoid 97.58 %, Tanh 97.82 %, LeakyReLU 97.76 % test accuracy.",
            TrainConfig(mnist, _acts("relu", "sigmoid", "tanh", "leaky_relu"), hidden=(128, 128),
                        optimizer="adam", lr=1e-3, batch_size=64, epochs=10, seed=42),
            mnist_note),
        TrainingPreset(
            "seed002", "Seed 002: FashionMNIST, nine activations, SGD + early stopping",
            "784-512-256-256-128-10, SGD lr 0.01 momentum 0.9, batch 256, up to 50 epochs, early stopping "
            "with patience 7 on validation accuracy, same seed for every activation (UvA DL tutorial 3). "
            "Reported test accuracy: sigmoid 10.00 %, tanh 83.44, relu 88.69, leakyrelu 88.67, prelu 85.52, "
            "elu 87.84, gelu 88.78, swish 88.66, mish 88.79 %: the deep sigmoid net does not learn at all.",
            TrainConfig(fashion,
                        _acts("sigmoid", "tanh", "relu", ("leaky_relu", {"negative_slope": 0.1}),
                              ("prelu", {"init": 0.1, "_learn": ("init",)}), "elu", "gelu_tanh", "swish",
                              "mish"),
                        hidden=(512, 256, 256, 128), optimizer="sgd", lr=1e-2, momentum=0.9,
                        batch_size=256, epochs=50, patience=7, seed=42),
            fashion_note),
        TrainingPreset(
            "seed003", "Seed 003: moons, 2-5-1 sigmoid net, plain SGD",
            "Weights N(0, 1), biases 0, sigmoid hidden and output units, binary cross-entropy, SGD lr 0.2, "
            "full batch, 1000 epochs (NNDL lab 5). Reported test accuracy ≈ 0.84 on these noisy moons; "
            "try lr 1, 3 or 5 for faster (and less stable) learning.",
            TrainConfig(datasets.DatasetSpec(name="moons", n_samples=1000, noise=0.5, seed=0),
                        _acts("sigmoid"), hidden=(5,),
                        init=models.InitSpec(name="normal", std=1.0, bias=0.0),
                        optimizer="sgd", lr=0.2, momentum=0.0, batch_size=0, epochs=1000, seed=42)),
    )}


def with_dataset(preset: TrainingPreset, spec: datasets.DatasetSpec) -> TrainConfig:
    return replace(preset.config, dataset=spec)
