"""The Docker image: its Dockerfile's runtime contract, and the real image built and run by a Docker engine.

Two kinds of helpers:
- ``parse`` / ``run_cmd`` / ``healthy`` read the Dockerfile's final stage (ENV, CMD, HEALTHCHECK, ...)
  and start its command on this machine, for load tests that want the image's exact server without
  the container around it (tests/test_classroom.py, bench/classroom.py).
- ``require_docker`` / ``build_image`` / ``container`` build the image offline from the local base
  image and wheelhouse and run it as it is meant to be hosted (non-root, read-only, a /tmp tmpfs,
  a state volume, a memory cap), on the host network at a port of the test's choosing.

Without a Docker engine, the base image or the wheelhouse the engine tests skip, naming what to run;
with ACTVIZ_REQUIRE_DOCKER=1 (CI) they fail instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ARTIFACTS = ROOT / "test-artifacts"
BASE_IMAGE = os.environ.get("ACTVIZ_BASE_IMAGE", "actviz-base:bookworm")
WHEELHOUSE = "wheelhouse"
# One tag per checkout, so test sessions in different worktrees do not retag each other's image.
IMAGE = "actviz:test-" + hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]


@dataclass
class DockerContract:
    """The final stage of the Dockerfile (what a container runs), plus every stage's FROM/ARG/COPY."""

    base: str = ""
    froms: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = ""
    user: str = ""
    expose: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)
    copies: list[str] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _exec_form(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        return json.loads(value)
    return ["/bin/sh", "-c", value]


def parse(path: Path = DOCKERFILE) -> DockerContract:
    c = DockerContract()
    for word, rest in _instructions(path.read_text()):
        if word == "FROM":
            # A new stage: the runtime settings start afresh; ARGs and COPYs are kept for all stages.
            c = DockerContract(base=rest.split()[0], froms=[*c.froms, rest], args=c.args, copies=c.copies)
        elif word == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                c.env[key] = value
        elif word == "WORKDIR":
            c.workdir = rest
        elif word == "USER":
            c.user = rest
        elif word == "EXPOSE":
            c.expose += rest.split()
        elif word == "VOLUME":
            c.volumes += _exec_form(rest) if rest.startswith("[") else rest.split()
        elif word == "CMD":
            c.cmd = _exec_form(rest)
        elif word == "ARG":
            key, _, value = rest.partition("=")
            c.args[key] = value
        elif word == "COPY":
            c.copies.append(rest)
        elif word == "HEALTHCHECK":
            m = re.search(r"\bCMD\b\s*(.*)$", rest)
            c.healthcheck = _exec_form(m.group(1)) if m else []
    return c


# ----------------------------------------------------------------------------------------------------
# The image's command on this machine (no container)


def local_argv(argv: list[str]) -> list[str]:
    """The image's command with its ``python`` as this interpreter (same packages as the image)."""
    return [sys.executable if a == "python" else a for a in argv]


def local_env(contract: DockerContract) -> dict[str, str]:
    """The image's ENV minus what only makes sense inside it (PATH, HOME, directories under /app, /opt)."""
    return {k: v for k, v in contract.env.items()
            if k not in ("PATH", "HOME") and not v.startswith(("/app/", "/opt/"))}


@contextlib.contextmanager
def run_cmd(contract: DockerContract, extra_env: dict[str, str] | None = None, log_name: str = "docker-cmd"
            ) -> Iterator[subprocess.Popen]:
    """Start the image's CMD from the repository root with the image's ENV (plus ``extra_env``)."""
    from tests.system.browser_helpers import background_process

    env = {**os.environ, **local_env(contract), **(extra_env or {})}
    with background_process(local_argv(contract.cmd), env, log_name) as proc:
        yield proc


def healthy(contract: DockerContract, env: dict[str, str] | None = None) -> bool:
    """Run the image's HEALTHCHECK command as Docker would, on this machine; True when it exits 0."""
    done = subprocess.run(local_argv(contract.healthcheck), cwd=ROOT,
                          env={**os.environ, **local_env(contract), **(env or {})},
                          capture_output=True, timeout=30)
    return done.returncode == 0


# ----------------------------------------------------------------------------------------------------
# A real Docker engine


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def _missing() -> list[str]:
    if shutil.which("docker") is None:
        return ["the docker CLI and engine (Debian, as root: apt-get install -y docker.io; then start dockerd)"]
    try:
        engine = docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return ["a Docker engine that answers (docker info timed out)"]
    if engine.returncode != 0:
        return [f"a running Docker engine you may use (docker info: {engine.stderr.strip()[:200]}; "
                "start dockerd as root, or run scripts/ensure-docker.sh)"]
    missing = []
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        missing.append(f"the base image {BASE_IMAGE} (make docker-base)")
    stamp = ROOT / WHEELHOUSE / ".complete"  # written by `make wheelhouse` when every wheel is there
    if not stamp.exists():
        missing.append(f"a filled {WHEELHOUSE}/ (make wheelhouse)")
    elif stamp.stat().st_mtime < (ROOT / "requirements.txt").stat().st_mtime:
        missing.append(f"a {WHEELHOUSE}/ that matches requirements.txt, which changed since (make wheelhouse)")
    return missing


def require_docker() -> None:
    """Skip (or, with ACTVIZ_REQUIRE_DOCKER=1, fail) unless the engine, base image and wheelhouse are here."""
    missing = _missing()
    if missing:
        message = "Docker image tests need " + " and ".join(missing)
        if os.environ.get("ACTVIZ_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def build_image(tag: str = IMAGE, timeout: float = 1200) -> str:
    """Build the image offline (--network none) from the local base image and the wheelhouse.

    Docker's layer cache makes a rebuild with unchanged dependencies take seconds.  The build log is
    test-artifacts/docker-build.log.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "docker-build.log"
    cmd = ["docker", "build", "--force-rm", "--network", "none", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
           "--build-arg", f"WHEELHOUSE={WHEELHOUSE}", "-t", tag, str(ROOT)]
    with open(log, "w") as out:
        out.write(shlex.join(cmd) + "\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise AssertionError(f"the offline image build failed (see {log}):\n{tail}")
    return tag


def run_once(image: str, *argv: str, timeout: float = 120) -> str:
    """Run one command in a fresh container with no network; its stdout.  The container is removed."""
    name = f"actviz-once-{os.getpid()}-{time.monotonic_ns()}"
    try:
        return docker("run", "--rm", "--name", name, "--network", "none", image, *argv, timeout=timeout).stdout
    finally:
        docker("rm", "--force", name, check=False)


def state(name: str) -> dict:
    return json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)


def logs(name: str) -> str:
    done = docker("logs", name, check=False)
    return done.stdout + done.stderr


def wait_healthy(name: str, timeout: float = 180) -> dict:
    """Wait for the image's own HEALTHCHECK to report healthy (docker inspect); return the State."""
    deadline = time.monotonic() + timeout
    while True:
        st = state(name)
        status = (st.get("Health") or {}).get("Status")
        if not st.get("Running"):
            raise AssertionError(f"container {name} stopped ({st.get('Status')}, exit {st.get('ExitCode')}, "
                                 f"OOMKilled {st.get('OOMKilled')}):\n{logs(name)[-3000:]}")
        if status == "healthy":
            return st
        if status == "unhealthy" or time.monotonic() > deadline:
            raise AssertionError(f"container {name} is {status} after {timeout:.0f}s: "
                                 f"{json.dumps(st.get('Health'))[:2000]}\n{logs(name)[-3000:]}")
        time.sleep(1)


@contextlib.contextmanager
def container(image: str, port: int, *, memory: str = "2g", name: str | None = None,
              extra: tuple[str, ...] = ()) -> Iterator[str]:
    """Run ``image`` as hosted: non-root (its USER), --read-only, /tmp a tmpfs, a state volume, a memory cap.

    The server listens on 127.0.0.1:``port`` of the host network (loopback only).  The container and
    its volume are removed on exit, failures included; its log is kept in test-artifacts/.
    """
    name = name or f"actviz-test-{os.getpid()}-{port}"
    volume = f"{name}-state"
    docker("run", "--detach", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
           "--volume", f"{volume}:/app/state", "--memory", memory,
           "--env", f"STREAMLIT_SERVER_PORT={port}", "--env", "STREAMLIT_SERVER_ADDRESS=127.0.0.1",
           *extra, image)
    try:
        yield name
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            (ARTIFACTS / f"docker-{name}.log").write_text(logs(name))
        docker("rm", "--force", "--volumes", name, check=False)
        docker("volume", "rm", "--force", volume, check=False)
