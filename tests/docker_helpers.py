"""Read the Dockerfile's runtime contract (ENV, CMD, HEALTHCHECK, ...) and run it here, without Docker.

There is no Docker engine on our machines, so the tests prove what they can: the exact command and
environment the image would run, started locally, must serve a healthy app.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class DockerContract:
    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = ""
    user: str = ""
    expose: list[str] = field(default_factory=list)
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
        if not buf and (not line or line.startswith("#")):
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
            c.base = rest
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


def local_argv(argv: list[str]) -> list[str]:
    """The image's command with its ``python`` as this interpreter (same packages as the image)."""
    return [sys.executable if a == "python" else a for a in argv]


@contextlib.contextmanager
def run_cmd(contract: DockerContract, extra_env: dict[str, str] | None = None, log_name: str = "docker-cmd"
            ) -> Iterator[subprocess.Popen]:
    """Start the image's CMD from the repository root with the image's ENV (plus ``extra_env``)."""
    from tests.browser_helpers import background_process

    env = {**os.environ, **contract.env, **(extra_env or {})}
    with background_process(local_argv(contract.cmd), env, log_name) as proc:
        yield proc


def healthy(contract: DockerContract, env: dict[str, str] | None = None) -> bool:
    """Run the image's HEALTHCHECK command exactly as Docker would; True when it exits 0."""
    done = subprocess.run(local_argv(contract.healthcheck), cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, timeout=30)
    return done.returncode == 0
