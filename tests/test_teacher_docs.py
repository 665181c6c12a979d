"""The README's promises to a teacher hold: the CPU-only torch tip comes before the step it changes,
`make run` prints the address, how to stop and how to change the port, every screenshot it shows exists,
and the classroom links it hands out open the pages without a warning."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from actviz import activations
from actviz.views import gradient_flow as gf
from actviz.views.gallery import GALLERY
from actviz.views.lessons import GRADIENT_PRESETS


@pytest.fixture(scope="module")
def readme(repo_root) -> str:
    return (repo_root / "README.md").read_text(encoding="utf-8")


def test_cpu_torch_tip_comes_before_the_install_step_it_changes(readme):
    tip = readme.index("--index-url https://download.pytorch.org/whl/cpu torch==")
    first_make_run = readme.index("make run ")
    assert tip < first_make_run


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_says_where_and_how_to_stop(repo_root):
    out = subprocess.run(["make", "-n", "run", "PORT=8600"], cwd=repo_root, capture_output=True, text=True,
                         timeout=60).stdout
    assert "http://localhost:8600" in out and "Ctrl+C" in out and "--server.port 8600" in out


def test_readme_tells_how_to_serve_on_another_port_and_run_a_classroom(readme):
    assert "make run PORT=" in readme and "--server.port" in readme
    classroom = readme[readme.index("## Classroom quick start"):]
    classroom = classroom[:classroom.index("\n## ", 5)]
    assert classroom.count("docker run") == 1 and "docker run --rm -p 8501:8501 actviz" in classroom
    assert "Students open" in classroom


def test_every_image_the_readme_shows_exists_and_none_is_stale(readme, repo_root):
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images
    for path in images:
        assert (repo_root / path).is_file(), path
    assert "hidden none" not in readme


def test_classroom_links_open_their_views_without_a_warning(readme):
    links = re.findall(r"`http://<host>:8501(/[^`]+)`", readme)
    assert len(links) >= 3
    for link in links:
        parts = urlsplit(link)
        query = parse_qs(parts.query)
        if parts.path == "/gradient-flow":
            state, warnings = gf.decode_gradient(query, GRADIENT_PRESETS)
            assert state.preset in GRADIENT_PRESETS
        else:
            assert parts.path == "/gallery"
            state, warnings = GALLERY.decode(query)
        assert warnings == [], (link, warnings)


def _catalogue_rows(readme: str) -> dict[str, str]:
    """The README catalogue's table rows, by the entry name in their first cell."""
    section = readme[readme.index("## The catalogue"):]
    section = section[:section.index("\n## ", 5)]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`([a-z0-9_]+)`\s*\|", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} has two rows"
            rows[m.group(1)] = line
    return rows


def test_the_readme_catalogue_lists_exactly_the_registry(readme):
    rows = _catalogue_rows(readme)
    registry = activations.names()
    missing = [n for n in registry if n not in rows]
    assert not missing, f"README catalogue misses {missing}"
    assert sorted(rows) == sorted(registry), f"README lists entries the registry lacks: {set(rows) - set(registry)}"
    section = readme[readme.index("## The catalogue"):]
    counts = re.match(r"## The catalogue\s+(\d+) activations: (\d+) from `torch.nn`, (\d+) element-wise .*?(\d+) gated",
                      section, re.S)
    assert counts, "the catalogue's first sentence gives the counts"
    total, classic, modern, gated = map(int, counts.groups())
    assert total == len(registry) and gated == len(activations.names(activations.GATED))
    assert classic + modern + gated == total


def _number(text: str) -> float:
    """A default as the README writes it: 0.25, −0.4472, −1e-6, 1/8."""
    text = text.replace("−", "-").strip()
    if "/" in text:
        num, den = text.split("/")
        return float(num) / float(den)
    return float(text)


def test_each_readme_row_gives_the_entrys_parameters_defaults_learnability_and_source(readme):
    rows = _catalogue_rows(readme)
    for name in activations.names():
        act, row = activations.get(name), rows[name]
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]  # "\|" is a pipe inside a cell
        # name, what, parameters, and the source for entries whose note cites one
        assert len(cells) == (4 if "Source" in act.description else 3), (name, cells)
        params = cells[2]
        if name == "rational":  # ten coefficients, written as ranges a0…a5, b1…b4
            assert "`a0`…`a5`" in params and "`b1`…`b4`" in params and "all *learnable*" in params
            assert set(act.learnable) == {p.name for p in act.params} and len(act.params) == 10
        else:
            seen = {}
            # groups separated by ';': every parameter of a group with "learnable" in it is learnable
            for group in params.split(";"):
                for pname, default in re.findall(r"`([a-z0-9_]+)` \(([^,)]+)", group):
                    seen[pname] = (_number(default), "learnable" in group)
            assert list(seen) == [p.name for p in act.params], (name, params)
            for p in act.params:
                default, learnable = seen[p.name]
                assert default == pytest.approx(p.default, rel=1e-9, abs=1e-12), (name, p.name, default)
                assert learnable == p.learnable, (name, p.name)
        if "Source" in act.description:
            # the source column names a year that the entry's own note cites
            years = set(re.findall(r"\b(?:19|20)\d\d\b", act.description.split("Source", 1)[1]))
            assert years & set(re.findall(r"\b(?:19|20)\d\d\b", cells[3])), (name, years, cells[3])


def test_the_readme_names_every_learnable_parameter(readme):
    section = readme[readme.index("**Learnable in training:**"):]
    section = section[:section.index("\n\n")]
    for name in activations.names():
        act = activations.get(name)
        if act.learnable:
            assert f"`{name}`" in section, name
            if name != "rational":
                assert all(p in section for p in act.learnable), (name, act.learnable)


def _readme_commands(readme: str) -> list[list[str]]:
    """Every `python -m actviz …` command in the README's shell blocks, continuation lines joined."""
    import shlex

    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith(".venv/bin/python -m actviz "):
                commands.append(shlex.split(line)[3:])
    return commands


def test_every_command_line_the_readme_shows_parses(readme):
    from actviz.cli import build_parser

    commands = _readme_commands(readme)
    assert {c[0] for c in commands} >= {"activations", "curve", "surface", "train", "gradients", "neurons",
                                        "evaluate", "data", "bench"}
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)  # argparse exits (SystemExit) on an unknown option or a bad value
