"""The README's promises to a teacher hold: the CPU-only torch tip comes before the step it changes,
`make run` prints the address, how to stop and how to change the port, every screenshot it shows exists,
and the classroom links it hands out open the pages without a warning."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

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
