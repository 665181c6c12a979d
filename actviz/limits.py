"""Operating limits, read from environment variables with defaults a 2-core box survives.

Every limit is enforced in the core (not only by widgets): over a limit is an InputError with a plain
message, shown in the page and turned into exit code 2 by the CLI.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, fields

LOG = logging.getLogger("actviz.limits")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Limits:
    max_running_jobs: int = max(1, _cpu_count() // 2)
    max_queued_jobs: int = 32
    max_jobs_per_session: int = 3
    job_ttl_s: float = 3600.0
    session_ttl_s: float = 600.0
    worker_idle_s: float = 30.0
    max_epochs: int = 1000
    max_layers: int = 20
    max_units: int = 4096
    max_upload_mb: float = 50.0
    max_upload_rows: int = 200_000
    max_curve_points: int = 20001

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Limits:
        env = dict(os.environ if env is None else env)
        values = {}
        for f in fields(cls):
            raw = env.get("ACTVIZ_" + f.name.upper())
            if raw is None or not raw.strip():
                continue
            default = getattr(cls(), f.name)
            try:
                number = float(raw)
                value = int(number) if isinstance(default, int) else number
                if not math.isfinite(number) or value <= 0:
                    raise ValueError
            except ValueError:
                # A typo in the operator's environment must not take the app down: say so, keep the default.
                LOG.warning("ignoring ACTVIZ_%s=%r: expected a positive number; using %s", f.name.upper(), raw, default)
                continue
            values[f.name] = value
        return cls(**values)

    @staticmethod
    def variables() -> list[tuple[str, str]]:
        """(environment variable, default) pairs, for the README and the About box."""
        d = Limits()
        return [("ACTVIZ_" + f.name.upper(), str(getattr(d, f.name))) for f in fields(Limits)]


_current: Limits | None = None


def current() -> Limits:
    """The process's limits (read once from the environment)."""
    global _current
    if _current is None:
        _current = Limits.from_env()
    return _current
