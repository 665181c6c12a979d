"""The app's pages in one list: app.py declares them, the home page links to them, tests walk them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str
    url_path: str
    blurb: str
    default: bool = False


PAGES: tuple[PageInfo, ...] = (
    PageInfo("app_pages/home.py", "Home", ":material/home:", "home", "What actviz is for.", default=True),
    PageInfo("app_pages/gallery.py", "Gallery", ":material/show_chart:", "gallery",
             "Every activation with its autograd derivatives, saturation zones, properties and "
             "formulas; type your own formula too."),
    PageInfo("app_pages/gradient_flow.py", "Gradient flow", ":material/timeline:", "gradient-flow",
             "Per-layer gradient magnitudes, activation outputs and dead neurons of a network at "
             "initialisation: vanishing gradients, dead ReLUs and zero-init symmetry in one click."),
    PageInfo("app_pages/training_lab.py", "Training lab", ":material/model_training:", "training-lab",
             "Race activations side by side in background training jobs: live loss and accuracy, "
             "gradient norms per layer, decision boundaries, results table and checkpoints."),
)
