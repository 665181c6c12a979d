"""Every bound the app enforces, in one place.

Two kinds:

- **Operating limits** (:class:`Limits`), read from ``ACTVIZ_*`` environment variables with defaults a
  2-core box survives.  An operator may raise or lower them.
- **Hard bounds** (module constants below): sizes and ranges that keep a value meaningful or a
  computation finite whatever the operator says (a seed must fit torch's generator, a curve needs at
  least a handful of points, an expression must stay small enough to check).

Every limit is enforced in the core (not only by widgets): over a limit is an InputError with a plain
message, shown in the page and turned into exit code 2 by the CLI.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, fields

LOG = logging.getLogger("actviz.limits")

# --- hard bounds ---------------------------------------------------------------------------------

MAX_SEED = 2**31 - 1                 # every random seed: weights, batch order, data generation, split
# Activation curves (gallery, `curve`).
X_LIMIT = 1000.0                     # |x| of a plotted range
MIN_CURVE_POINTS = 11
MAX_CURVE_POINTS = 20001
MIN_SURFACE_POINTS = 5               # per axis of a gated unit's (a, b) grid (`surface`, the gallery)
MAX_SURFACE_POINTS = 401
MORPH_STEPS_MAX = 61                 # parameter values a gallery morph carries to the browser
# Custom formulas (the allow-listed expression parser).
MAX_EXPR_LENGTH = 300
MAX_EXPR_NODES = 160
MAX_EXPR_DEPTH = 24
MAX_EXPR_EXPONENT = 10.0
MAX_EXPR_CONSTANT = 1e6
MAX_EXPR_PARAMS = 8
MAX_EXPR_PARAM_VALUE = 1e3
CUSTOM_PARAM_RANGE = (-10.0, 10.0)   # slider range of a custom formula's parameters in the pages
# Data.
N_SAMPLES_RANGE = (20, 100_000)      # synthetic datasets
NOISE_RANGE = (0.0, 2.0)
MIN_MAX_TRAIN = 10                   # smallest training subset
MAX_CSV_COLUMNS = 4096
MIN_CSV_ROWS = 10
MIN_ROWS_PER_CLASS = 2
MAX_CLASSES = 100
MAX_CSV_ABS_VALUE = 1e30             # |feature value|: standardised, it must still fit float32 (3.4e38)
# Networks.
MAX_INPUTS = 100_000                 # inputs or outputs of a network
INIT_VALUE_LIMIT = 100.0             # |std|, |a|, |b|, |value|, |bias| of an init
MAX_COMPARED = 12                    # activations drawn, compared or raced at once
MAX_BATCH = 65_536
SATURATION_EPS_MAX = 0.5             # |f'| threshold for "saturated"
MAX_SYMMETRY_STEPS = 2000
# Training.
MAX_EPOCHS = 1000
LR_RANGE = (1e-6, 100.0)
MOMENTUM_RANGE = (0.0, 0.999)
MAX_SEEDS = 10                       # seeds per activation in one job (issue: honest races)
REGULARISATION_RANGE = (0.0, 10.0)   # L1 and L2 rates (TF Playground offers 0 ... 10)
DROPOUT_RANGE = (0.0, 0.9)           # probability of dropping a hidden unit while training
LR_GAMMA_RANGE = (1e-3, 1.0)         # the step schedule's factor
STOP_LOSS_RANGE = (1e-8, 1e6)        # "stop when the training loss falls below Y"
# Checkpoint files.
MAX_CHECKPOINT_MEMBER_BYTES = 200 * 1024 * 1024
MAX_CHECKPOINT_CONFIG_BYTES = 256 * 1024


# --- operating limits ----------------------------------------------------------------------------

def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# Memory kept for the web process (sessions, pages, job records) when job budgets are derived.
WEB_RESERVE_MB = 1024
MIN_JOB_MEMORY_MB = 256


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) is not a number


def available_memory_mb() -> int:
    """The memory this process may use: the container's cgroup limit if there is one, else the machine's."""
    machine = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    machine = int(line.split()[1]) // 1024
                    break
    except OSError:
        pass
    if machine is None:
        try:
            machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        except (ValueError, OSError, AttributeError):
            machine = 4096
    cgroup = [v // 2**20 for v in (_read_int("/sys/fs/cgroup/memory.max"),                 # cgroup v2
                                   _read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes"))  # cgroup v1
              if v is not None and v // 2**20 < machine]
    return min([machine, *cgroup])


def _default_job_memory_mb(running: int | None = None) -> int:
    """What is left after the web process's share, divided among the jobs that may run at once plus one
    (a job waiting its turn keeps its memory): one student's job never gets near what the server needs."""
    running = max(1, _cpu_count() // 2) if running is None else max(1, int(running))
    return max(MIN_JOB_MEMORY_MB, (available_memory_mb() - WEB_RESERVE_MB) // (running + 1))


# The largest value each operating limit accepts: beyond it a value is a typo (or hostile) and would
# overflow a timer (a sleep of 1e15 s raises OverflowError in the worker threads) or an allocation.
YEAR_S = 366 * 24 * 3600.0
LIMIT_MAX = {"max_running_jobs": 1024, "max_queued_jobs": 1_000_000, "max_jobs_per_session": 10_000,
             "job_ttl_s": YEAR_S, "session_ttl_s": YEAR_S, "worker_idle_s": YEAR_S, "max_epochs": 1_000_000,
             "max_layers": 1000, "max_units": 1_000_000, "max_upload_mb": 1_000_000.0,
             "max_upload_rows": 1_000_000_000, "max_curve_points": 10_000_000, "max_job_memory_mb": 2**24,
             "max_job_minutes": YEAR_S / 60, "time_slice_s": YEAR_S}


@dataclass(frozen=True)
class Limits:
    max_running_jobs: int = max(1, _cpu_count() // 2)
    max_queued_jobs: int = 32
    max_jobs_per_session: int = 3
    job_ttl_s: float = 3600.0
    session_ttl_s: float = 600.0
    worker_idle_s: float = 30.0
    max_epochs: int = MAX_EPOCHS
    max_layers: int = 20
    max_units: int = 4096
    max_upload_mb: float = 50.0
    max_upload_rows: int = 200_000
    max_curve_points: int = MAX_CURVE_POINTS
    # Budgets of heavy computations (training jobs, gradient-flow and neuron runs, checkpoint and CSV loads):
    # the estimated peak memory and the estimated computing time, checked before any work starts.
    max_job_memory_mb: int = field(default_factory=_default_job_memory_mb)
    max_job_minutes: float = 60.0
    # Jobs take turns on the workers: a running job yields its place after this long if another waits.
    time_slice_s: float = 5.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Limits:
        env = dict(os.environ if env is None else env)
        values = {}
        defaults = cls()
        for f in fields(cls):
            raw = env.get("ACTVIZ_" + f.name.upper())
            if raw is None or not raw.strip():
                continue
            default = getattr(defaults, f.name)
            whole = isinstance(default, int)
            top = LIMIT_MAX.get(f.name, 1e15)
            value = _positive(raw, whole, top)
            if value is None:
                # A typo in the operator's environment must not take the app down: say so, keep the default.
                LOG.warning("ignoring ACTVIZ_%s=%r: expected a positive %s up to %s; using %s", f.name.upper(),
                            raw[:40], "whole number" if whole else "number", f"{int(top):,}", default)
                continue
            values[f.name] = value
        if "max_running_jobs" in values and "max_job_memory_mb" not in values:
            values["max_job_memory_mb"] = _default_job_memory_mb(int(values["max_running_jobs"]))
        return cls(**values)


def _positive(raw: str, whole: bool, top: float) -> float | int | None:
    """A finite number in (0, top] (a whole one when ``whole``), or None for anything else."""
    try:
        number = float(raw.strip()[:64])
    except ValueError:
        return None
    if not math.isfinite(number) or number <= 0 or number > top:
        return None
    if whole:
        return int(number) if number.is_integer() else None
    return number


def state_dir(env: dict[str, str] | None = None) -> str | None:
    """Where the server keeps what must survive a restart (``ACTVIZ_STATE_DIR``: the job list, results,
    checkpoints, the session secret), or None: everything stays in memory (``make run`` sets ./state)."""
    raw = (os.environ if env is None else env).get("ACTVIZ_STATE_DIR", "").strip()
    return os.path.abspath(os.path.expanduser(raw)) if raw else None


_current: Limits | None = None


def current() -> Limits:
    """The process's limits (read once from the environment)."""
    global _current
    if _current is None:
        _current = Limits.from_env()
    return _current
