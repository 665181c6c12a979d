"""Real-browser test support: a Streamlit server on a free port and Debian's Chromium via Playwright.

Browsers cannot be downloaded here, so Playwright launches /usr/bin/chromium.  Without it the browser
tests are skipped, unless ACTVIZ_REQUIRE_BROWSER=1 (set by CI) turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("ACTVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("ACTVIZ_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base_url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base_url + "/_stcore/health", timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server at {base_url} not healthy after {timeout:.0f}s")


@contextlib.contextmanager
def background_process(cmd: list[str], env: dict[str, str], log_name: str) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` from the repository root with its output in test-artifacts/<log_name>.log."""
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / f"{log_name}.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def streamlit_server(extra_env: dict[str, str] | None = None, command: list[str] | None = None,
                     port: int | None = None) -> Iterator[str]:
    """Start the app and yield its base URL; the log goes to test-artifacts/ for post-mortems."""
    with streamlit_process(extra_env, command, port) as (base, _):
        yield base


@contextlib.contextmanager
def streamlit_process(extra_env: dict[str, str] | None = None, command: list[str] | None = None,
                      port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """:func:`streamlit_server`, yielding the server's process beside its URL."""
    port = port or free_port()
    cmd = command or [sys.executable, "-m", "ui.launch", "--server.headless=true",
                      f"--server.port={port}", "--server.address=127.0.0.1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    with background_process(cmd, env, f"server-{port}") as proc:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        yield base, proc


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def has_chromium() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None
