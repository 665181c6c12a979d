"""Operating limits, read from environment variables with defaults a 2-core box survives.

Every limit is enforced in the core (not only by widgets): over a limit is an InputError with a plain
message, shown in the page and turned into exit code 2 by the CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


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
                value = type(default)(float(raw)) if isinstance(default, int) else float(raw)
            except ValueError:
                raise ValueError(f"ACTVIZ_{f.name.upper()}={raw!r} is not a number") from None
            if value <= 0:
                raise ValueError(f"ACTVIZ_{f.name.upper()} must be positive, got {raw!r}")
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
