"""The layout rules of the core package, checked on the source (see the README's project layout).

- No import cycle in ``actviz/`` (function-level imports count).
- Layers: base (errors, limits, budget, validate, cache) -> activations -> data -> network -> training ->
  plots -> views -> cli.  A module imports only from its own layer or those below it.
- The core never imports Streamlit; URL-state modules never import the presets (lessons).
- Caches go through ``actviz.cache`` only; no core module over 500 lines, no page over 150.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "actviz"
LAYERS = ("base", "activations", "data", "network", "training", "plots", "views", "cli")
BASE = {"actviz.errors", "actviz.limits", "actviz.validate", "actviz.cache", "actviz.budget"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Every module an ``actviz`` file imports, at any depth (function bodies included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return found


GRAPH = {name: {m for m in imports_of(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def layer(module: str) -> int:
    if module in BASE or module == "actviz":
        return 0
    if module in ("actviz.cli", "actviz.__main__"):
        return LAYERS.index("cli")
    return LAYERS.index(module.split(".")[1])


def test_the_package_has_the_layers_of_the_readme():
    packages = {p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(LAYERS) - {"base", "cli"}
    for module in MODULES:
        layer(module)  # every module belongs to a layer


def test_no_import_cycles():
    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(GRAPH[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(GRAPH[m])
        return seen

    in_cycles = sorted(m for m in GRAPH if m in reachable(m))
    assert in_cycles == [], f"import cycle through {in_cycles}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_import_only_their_own_layer_or_below(module):
    upward = sorted(m for m in GRAPH[module] if layer(m) > layer(module))
    assert upward == [], f"{module} (layer {LAYERS[layer(module)]}) imports {upward}"


def test_the_core_is_ui_free_and_url_state_does_not_know_the_presets():
    for name, path in MODULES.items():
        assert not any(m.split(".")[0] == "streamlit" for m in imports_of(path)), name
    for name in ("actviz.views.urlstate", "actviz.views.gallery", "actviz.views.gradient_flow",
                 "actviz.views.training_lab"):
        assert "actviz.views.lessons" not in GRAPH[name], name


def test_caches_go_through_the_one_helper():
    for name, path in MODULES.items():
        if name == "actviz.cache":
            continue
        text = path.read_text(encoding="utf-8")
        for marker in ("lru_cache", "OrderedDict", "import cachetools", "st.cache_"):
            assert marker not in text, f"{name} uses {marker}; use actviz.cache.memo"


def test_modules_and_pages_stay_small():
    for name, path in MODULES.items():
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 500, name
    for page in (ROOT / "app_pages").glob("*.py"):
        assert len(page.read_text(encoding="utf-8").splitlines()) <= 150, page.name
