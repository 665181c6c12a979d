"""Resume points: a job saves its training state while it trains, so a server restart costs seconds of it.

While a job trains, its :class:`Saver` writes one file per run at an epoch boundary — after the first
epoch (so even a short job can go on), then at most every ``EVERY_S`` seconds, and less often when a save
is slow, so that saving takes at most ``MAX_SHARE`` of the job's time (a save is timed; the next waits
``duration / MAX_SHARE``).  A paused job saves at the boundary where it waits.  The files are checkpoints
of the one schema (:mod:`actviz.network.checkpoint`) extended with a ``resume`` section: the run's
weights at that epoch (``model.pt``), its optimizer moments, the weights it keeps (best validation so
far), the state of the random generators behind its batch order, dropout masks and RReLU slopes
(``resume.pt``), and its epoch records and early-stopping counters (``resume.json``).  A run that already
ended is saved with the model it keeps and its summary.

After a restart :func:`peek` says from which epoch an interrupted job can go on (it reads only the files'
``config.json``), :func:`read` reads and checks them in the worker that resumes, and the engine calls
:func:`restore_runs`, :func:`restore_state` and :func:`replay`: every run continues exactly where it was,
so the resumed job's history equals that of a job never interrupted (a test compares them), and the
records of the epochs already trained reach the new job's page first.

Headless: ``engine.train(cfg, sink, resume=resume.read(paths, cfg), saver=resume.Saver(paths))``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from actviz.errors import InputError
from actviz.network import checkpoint
from actviz.training import codec
from actviz.training.config import EpochRecord, RunStatus, TrainConfig

LOG = logging.getLogger("actviz.resume")
EVERY_S = 5.0        # a resume point at most this often ...
MAX_SHARE = 0.02     # ... and saving at most this share of the job's time (a 1 s save: every 50 s)
SUFFIX = ".resume.zip"
_COUNTERS = ("best_score", "best_val_acc", "best_epoch", "epochs_since_best", "epochs_done", "epoch_seconds",
             "reference_loss")
AGAIN = "Run again starts it from the beginning"


def path_for(folder: str | os.PathLike[str], job_id: str, run: int) -> Path:
    """Where run ``run`` of job ``job_id`` keeps its resume point."""
    return Path(folder) / f"{job_id}-{run}{SUFFIX}"


def config_tag(cfg: TrainConfig) -> str:
    """Which setup a resume point belongs to (a file of another setup is never resumed from)."""
    return hashlib.sha256(cfg.key().encode()).hexdigest()[:24]


@dataclass
class RunPoint:
    """One run's training state at the end of epoch ``epoch``, as read back from its file."""

    run: int
    epoch: int
    weights: dict[str, torch.Tensor]
    has_model: bool
    info: dict[str, Any]
    history: list[EpochRecord]
    grad_norms: list[list[float]]
    optimizer: dict[str, dict[str, Any]]
    best_state: dict[str, torch.Tensor] | None
    rng: dict[str, torch.Tensor]

    @property
    def status(self) -> RunStatus:
        return RunStatus(self.info["status"])


def engine_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    """The engine's ``resume``/``saver`` arguments for a backend's job payload (``resume_from``: the files to
    go on from, read now; ``resume_to``: where to save, ``resume_every_s`` how often at most)."""
    out: dict[str, Any] = {}
    if payload.get("resume_from"):
        out["resume"] = read(payload["resume_from"], payload["config"])
    if payload.get("resume_to"):
        out["saver"] = Saver(payload["resume_to"], float(payload.get("resume_every_s", EVERY_S)))
    return out


# --- saving (the engine's thread, at an epoch boundary) -------------------------------------------------------

class Saver:
    """Writes a job's resume points to ``paths`` (one per run) when one is due; see the module docstring."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]], every_s: float = EVERY_S,
                 max_share: float | None = MAX_SHARE, clock: Callable[[], float] = time.monotonic) -> None:
        self.paths = [Path(p) for p in paths]
        self.every_s, self.max_share, self.clock = float(every_s), max_share, clock
        self.last = -math.inf    # the first epoch boundary saves
        self.cost_s = 0.0        # the last save's duration
        self.saved_epoch = 0
        self.disabled = False

    def due(self) -> bool:
        wait = self.every_s
        if self.max_share:
            wait = max(wait, self.cost_s / self.max_share)
        return self.clock() - self.last >= wait

    def offer(self, job: Any, epoch: int, force: bool = False) -> bool:
        """Save ``job`` (the engine's job) as it stands after ``epoch`` if a save is due; True if it saved."""
        if self.disabled or epoch == self.saved_epoch or not (force or self.due()):
            return False
        t0 = time.perf_counter()
        try:
            for r in job.runs:
                write(self.paths[r.index], job, r, epoch)
        except Exception as exc:  # noqa: BLE001 - a resume point must never end the job it is for
            self.disabled = True
            LOG.warning("resume points of this job are off (%s: %s)", type(exc).__name__, str(exc)[:200])
            return False
        self.cost_s = time.perf_counter() - t0
        self.last, self.saved_epoch = self.clock(), epoch
        return True


def _stack_of(job: Any, r: Any) -> tuple[Any, int] | None:
    for st in job.stacks:
        if r.index in st.runs:
            return st, st.runs.index(r.index)
    return None


def _named_parameters(st: Any, member: int) -> list[tuple[torch.Tensor, str, bool]]:
    """(parameter, its name in the member's MLP, stacked over the members?) for one member of a stack."""
    out = [(w, f"linears.{i}.weight", True) for i, w in enumerate(st.net.weights)]
    out += [(b, f"linears.{i}.bias", True) for i, b in enumerate(st.net.biases)]
    for layer, params in enumerate(st.net.learned[member]):
        out += [(p, f"acts.{layer}.{name}", False) for name, p in params.items()]
    return out


def _member_optimizer(st: Any, member: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p, name, stacked in _named_parameters(st, member):
        state = st.opt.state.get(p)
        if not state:
            continue
        one: dict[str, Any] = {}
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                v = v[member] if stacked and v.dim() > 0 and v.shape[0] == st.size else v
                v = v.detach().clone()   # a copy: a view would save the whole stacked tensor
            one[k] = v
        out[name] = one
    return out


def write(path: Path, job: Any, r: Any, epoch: int) -> None:
    """Write run ``r`` of the engine's ``job`` as it stands after ``epoch`` (whole or not at all)."""
    cfg = job.cfg
    info: dict[str, Any] = {k: getattr(r, k) for k in _COUNTERS}
    info.update(status=RunStatus(r.status).value, message=r.message, summary=r.summary, base_lr=job.base_lr)
    slot = job.seeds.index(r.seed)
    tensors: dict[str, Any] = {"rng_order": job.order_gens[slot].get_state(),
                               "rng_drop": job.drop_gens[slot].get_state(), "rng_torch": torch.get_rng_state(),
                               "best_state": r.best_state, "optimizer": {}}
    found = _stack_of(job, r)
    model = job._initial[r.index]
    if found is not None:
        st, member = found
        weights = st.net.member_state(member)
        tensors["optimizer"] = _member_optimizer(st, member)
        has_model = True
    else:  # the run ended: the model it keeps (none when its weights blew up)
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        has_model = r.model is not None and all(bool(torch.isfinite(v).all()) for v in weights.values())
        if not has_model:
            weights = {k: torch.zeros_like(v) for k, v in weights.items()}
    info["has_model"] = has_model
    state = codec.dumps({"info": info, "history": list(r.history), "grad_norms": list(r.grad_norms)})
    section = {"epoch": int(epoch), "run": int(r.index), "job": config_tag(cfg)}
    training = {k: v for k, v in cfg.to_json().items() if k not in ("dataset", "activations")}
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        checkpoint.save_resume(f, model.config(), weights, section, state, tensors, cfg.dataset, training)
    tmp.replace(path)


# --- reading back ---------------------------------------------------------------------------------------

def peek(paths: Sequence[str | os.PathLike[str]], cfg: TrainConfig) -> int:
    """The epoch the job's resume points were saved at, reading only their config.json; InputError saying
    why the job cannot be resumed otherwise."""
    if not paths:
        raise InputError(f"no training state was saved for this job; {AGAIN}")
    epochs = set()
    for i, path in enumerate(paths):
        if not os.path.isfile(path):
            raise InputError(f"no training state was saved before the restart (a job saves it every few seconds "
                             f"while it trains); {AGAIN}")
        try:
            section = checkpoint.resume_section(str(path))
        except InputError as exc:
            raise InputError(f"the saved training state is damaged ({exc}); {AGAIN}") from None
        epochs.add(_check_section(section, i, cfg))
    if len(epochs) != 1:
        raise InputError(f"the saved training state is incomplete (its runs were saved at different epochs); {AGAIN}")
    return epochs.pop()


def _check_section(section: dict[str, Any], run: int, cfg: TrainConfig) -> int:
    epoch = section.get("epoch")
    if section.get("job") != config_tag(cfg) or section.get("run") != run:
        raise InputError(f"the saved training state belongs to another setup; {AGAIN}")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 1 <= epoch < cfg.epochs:
        raise InputError(f"the saved training state is damaged (epoch {str(epoch)[:20]}); {AGAIN}")
    return epoch


def read(paths: Sequence[str | os.PathLike[str]], cfg: TrainConfig) -> list[RunPoint]:
    """Every run's resume point, checked (the checkpoint checks, then the training state); InputError
    saying what is wrong otherwise."""
    if len(paths) != len(cfg.plan()):
        raise InputError(f"the saved training state does not match this setup's runs; {AGAIN}")
    points = []
    for i, path in enumerate(paths):
        try:
            data = Path(path).read_bytes()
        except OSError:
            raise InputError(f"the saved training state of run {i + 1} is missing; {AGAIN}") from None
        try:
            loaded, section, state, tensors = checkpoint.load_resume(data)
            epoch = _check_section(section, i, cfg)
            points.append(_point(i, epoch, loaded.model.state_dict(), state, tensors))
        except InputError as exc:
            text = str(exc)
            raise InputError(text if AGAIN in text else f"the saved training state is damaged ({text}); "
                             f"{AGAIN}") from None
    if len({p.epoch for p in points}) != 1:
        raise InputError(f"the saved training state is incomplete (its runs were saved at different epochs); {AGAIN}")
    return points


def _point(run: int, epoch: int, weights: dict[str, torch.Tensor], state: bytes, tensors: dict[str, Any]) -> RunPoint:
    try:
        data = codec.loads(state)
    except codec.CodecError as exc:
        raise InputError(f"resume.json: {exc}") from None
    info, history, norms = (data.get(k) if isinstance(data, dict) else None for k in ("info", "history", "grad_norms"))
    if not isinstance(info, dict) or not set(_COUNTERS) | {"status", "base_lr", "has_model"} <= set(info):
        raise InputError("resume.json lacks the run's counters")
    if not isinstance(history, list) or not all(isinstance(h, EpochRecord) for h in history) \
            or not isinstance(norms, list) or len(norms) != len(history):
        raise InputError("resume.json lacks the run's epoch records")
    try:
        RunStatus(info["status"])
    except ValueError:
        raise InputError("resume.json: unknown run status") from None
    if not _counters_ok(info, len(history), epoch):
        raise InputError("resume.json: the run's counters are malformed")
    rng = {k: tensors.get(k) for k in ("rng_order", "rng_drop", "rng_torch")}
    if not all(isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1 for v in rng.values()):
        raise InputError("resume.pt lacks the random generator states")
    best, optimizer = tensors.get("best_state"), tensors.get("optimizer")
    if best is not None and not _tensor_dict(best, weights):
        raise InputError("resume.pt: the kept weights do not match the model")
    if not isinstance(optimizer, dict) or not all(isinstance(v, dict) for v in optimizer.values()):
        raise InputError("resume.pt: the optimizer state is malformed")
    return RunPoint(run, epoch, weights, bool(info["has_model"]), info, history, norms, optimizer, best, rng)


def _counters_ok(info: dict[str, Any], records: int, epoch: int) -> bool:
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= epoch  # noqa: E731
    return (whole(info["best_epoch"]) and whole(info["epochs_since_best"]) and whole(info["epochs_done"])
            and records <= epoch and number(info["best_score"]) and number(info["base_lr"])
            and all(v is None or number(v) for v in (info["best_val_acc"], info["reference_loss"]))
            and isinstance(info["epoch_seconds"], list) and all(number(v) for v in info["epoch_seconds"])
            and isinstance(info.get("summary", {}), dict) and isinstance(info.get("message", ""), str))


def _tensor_dict(value: Any, like: dict[str, torch.Tensor]) -> bool:
    return isinstance(value, dict) and set(value) == set(like) and all(
        isinstance(v, torch.Tensor) and v.shape == like[k].shape and v.dtype.is_floating_point
        and bool(torch.isfinite(v).all()) for k, v in value.items())


# --- restoring (the engine's job, as it is built) ------------------------------------------------------------

def restore_runs(job: Any, members: Sequence[Any], points: Sequence[RunPoint]) -> int:
    """Put every run's weights and counters back (before the engine stacks the runs still training); returns
    the epoch they were saved at."""
    if len(points) != len(job.runs):
        raise InputError(f"the saved training state does not match this setup's runs; {AGAIN}")
    for r, p, model in zip(job.runs, points, members, strict=True):
        try:
            model.load_state_dict(p.weights)
        except RuntimeError:
            raise InputError(f"the saved training state does not match this setup's network; {AGAIN}") from None
        for k in _COUNTERS:
            setattr(r, k, p.info[k])
        r.best_score = -math.inf if r.best_score is None else float(r.best_score)
        r.epoch_seconds = list(r.epoch_seconds or [])
        r.history, r.grad_norms, r.best_state = list(p.history), list(p.grad_norms), p.best_state
        if p.status.finished:
            r.status, r.message = p.status, str(p.info.get("message") or "")
            r.summary = dict(p.info.get("summary") or {})
            model.eval()
            r.model = model if p.has_model else None
    return points[0].epoch


def restore_state(job: Any, points: Sequence[RunPoint]) -> None:
    """Optimizer moments, learning rate and random generators, once the engine has built its stacks."""
    job.base_lr = float(points[0].info["base_lr"])
    for st in job.stacks:
        for member, run in enumerate(st.runs):
            _check_optimizer(st, member, points[run])
        for p, name, stacked in _named_parameters(st, 0) if st.size else ():
            if stacked:
                _set_stacked(st, p, [points[run].optimizer.get(name) for run in st.runs])
        for member, run in enumerate(st.runs):
            for p, name, stacked in _named_parameters(st, member):
                if not stacked and points[run].optimizer.get(name):
                    st.opt.state[p] = dict(points[run].optimizer[name])
    try:
        for slot, seed in enumerate(job.seeds):
            live = [p for r, p in zip(job.runs, points, strict=True) if r.seed == seed and not r.status.finished]
            if live:
                job.order_gens[slot].set_state(live[0].rng["rng_order"])
                job.drop_gens[slot].set_state(live[0].rng["rng_drop"])
        live = [p for r, p in zip(job.runs, points, strict=True) if not r.status.finished]
        if live:
            torch.set_rng_state(live[0].rng["rng_torch"])
    except RuntimeError:
        raise InputError(f"the saved random generator states are damaged; {AGAIN}") from None


def _check_optimizer(st: Any, member: int, point: RunPoint) -> None:
    for p, name, stacked in _named_parameters(st, member):
        shape = p.shape[1:] if stacked else p.shape
        for v in (point.optimizer.get(name) or {}).values():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and (v.shape != shape or not v.dtype.is_floating_point):
                raise InputError(f"the saved optimizer state does not match the network ({name}); {AGAIN}")


def _set_stacked(st: Any, p: torch.Tensor, states: list[dict[str, Any] | None]) -> None:
    if not any(states):
        return
    if not all(states) or any(set(s) != set(states[0]) for s in states):  # type: ignore[arg-type]
        raise InputError(f"the saved optimizer state is incomplete; {AGAIN}")
    out: dict[str, Any] = {}
    for k, first in states[0].items():  # type: ignore[union-attr]
        if isinstance(first, torch.Tensor) and first.dim() > 0:
            out[k] = torch.stack([s[k] for s in states]).contiguous()  # type: ignore[index]
        else:  # Adam's step count: the same for every member of a stack (they step together)
            out[k] = first.clone() if isinstance(first, torch.Tensor) else first
    st.opt.state[p] = out


def replay(job: Any) -> None:
    """Report the epochs already trained (and the runs already ended) to the new job's sink, in order."""
    for r in job.runs:
        for record, norms in zip(r.history, r.grad_norms, strict=True):
            job.sink.epoch_done(r.index, record, norms, None)
        if r.status.finished:
            job.sink.run_finished(r.index, r.status, r.message, r.summary)
