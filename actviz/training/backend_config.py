"""Which backend runs the server's jobs: ``ACTVIZ_JOB_BACKEND`` (see :mod:`.backends`).

- ``process`` (the default): worker processes on this machine (:class:`~.backends.ProcessBackend`);
- ``ray``: a Ray cluster (:class:`~.ray_backend.RayBackend`; ``ACTVIZ_RAY_ADDRESS`` joins one, unset
  starts a local Ray).  Needs ``pip install -r requirements-ray.txt``.

The launcher checks the setting before the server starts, so a typo stops the start with a message that
names the valid values instead of failing on the first job.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

from actviz.errors import InputError

if TYPE_CHECKING:
    from actviz.training.backends import Backend

ENV = "ACTVIZ_JOB_BACKEND"
BACKENDS = ("process", "ray")
ALIASES = {"": "process", "processes": "process"}


def configured(env: dict[str, str] | None = None) -> str:
    """The backend named by ``ACTVIZ_JOB_BACKEND`` (``process`` when unset); InputError for anything else."""
    raw = (os.environ if env is None else env).get(ENV, "").strip()
    name = ALIASES.get(raw.lower(), raw.lower())
    if name not in BACKENDS:
        raise InputError(f"{ENV}={raw[:40]!r} is not a job backend; use one of: {', '.join(BACKENDS)} "
                         "(unset means process)")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise InputError(f"{ENV}=ray needs Ray, which is not installed here: pip install -r requirements-ray.txt")
    return name


def make(threads: int, budget_bytes: int | None) -> Backend:
    """The configured backend (jobs get ``threads`` torch threads; tasks a ceiling of ``budget_bytes``)."""
    # Imported here: the launcher checks the setting with this module before anything imports torch.
    if configured() == "ray":
        from actviz.training.ray_backend import RayBackend

        return RayBackend(threads, budget_bytes)
    from actviz.training.backends import ProcessBackend

    return ProcessBackend(threads, budget_bytes)
