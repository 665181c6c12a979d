"""Jobs on a Ray cluster (``ACTVIZ_JOB_BACKEND=ray``), behind the same interface as the worker processes.

Ray is optional: this module imports it only inside its functions, so the server runs without it.
``ACTVIZ_RAY_ADDRESS`` joins a running cluster (``ray start --head`` prints the address); unset, the
server starts a local Ray with this machine's CPUs.

- **A job is a Ray actor** (:class:`~.ray_actor.JobActor`) running the same engine code a worker process runs, in a
  thread of the actor; the engine's reports go through the same :class:`~.worker.PipeSink` into a list
  inside the actor, which the server polls (a few times a second, only what is new).  Commands
  (pause/resume/step/set_lr/cancel) and turns (hold/release) are calls on the actor.  Ray runs the calls
  one caller makes on one actor in the order they were made, so a pause is never overtaken by a resume.
- **Budgets become resource requests**: the actor asks for the job's estimated peak memory plus the
  worker's margin (``memory``) and its torch threads (``num_cpus``), so Ray only places it where it fits.
  A job that fits on no machine of the cluster fails at once, saying so, instead of waiting for ever.
- **The same job once, across app replicas**: the actor is *named* after the configuration
  (``actviz-job-<sha256 of the config key>``) and *detached*, so a second replica that submits the same
  configuration to the same cluster finds the running actor and follows it instead of training again.
  Each replica is a *follower*; a cancel from one follower while others still follow only ends that
  follower's view; the job stops when its last follower cancels.  The actor exits once every follower
  has fetched the results (or, should every replica vanish, after ``ORPHAN_S`` without a poll).
- **Trained models come back through the disk, as with worker processes**: the actor keeps each run's
  checkpoint bytes; the server writes them into its own spool folder and reads them with the same
  checkpoint checks (:func:`~.backends._load_checkpoint`).
- **Resume points** (:mod:`.resume`) are written by the actor to the paths the server gives it, in the server's
  state folder: on a local Ray, or where the cluster's workers mount that folder at the same path, an
  interrupted job resumes from them; elsewhere the actor cannot write there, saves none (logged), and after
  a restart the job offers Run again only.
- **Gradient-flow computations** run as Ray tasks with the same resource requests; a closed tab cancels
  the task (``ray.cancel(force=True)`` ends its worker).

The workers on the cluster's machines need the same Python packages (``requirements.txt`` and
``requirements-ray.txt``); the ``actviz`` package itself travels with every job (``py_modules``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from actviz import budget
from actviz.errors import InputError
from actviz.training import worker
from actviz.training.backends import CheckpointFiles, spool_dir
from actviz.training.ray_actor import JobActor, run_task

LOG = logging.getLogger("actviz.ray")
NAMESPACE = "actviz"
ADDRESS_ENV = "ACTVIZ_RAY_ADDRESS"
POLL_S = 0.2            # how often a follower asks its job actor what is new
TOKEN_HINT = ("; a cluster with token authentication (Ray's default) also needs RAY_AUTH_MODE=token and its token "
              "here (RAY_AUTH_TOKEN, or the head's ~/.ray/auth_token)")
NODES_TTL_S = 10.0      # the cluster's machines, cached between job starts
CONNECT_TIMEOUT_S = 60.0  # a local Ray starts in seconds; an address that does not answer gets this long
# The actviz package travels to the cluster's workers with every server's connection (Ray caches it by hash).
RUNTIME_ENV = {"py_modules": [str(Path(__file__).resolve().parent.parent)], "excludes": ["__pycache__", "*.pyc"]}


def actor_name(key: str) -> str:
    """The job actor's name: the same configuration gives the same name on every replica."""
    return "actviz-job-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def _remote(kind: str) -> Any:
    """The Ray versions of the job actor and the task function (made on first use: Ray is imported late)."""
    import ray

    with _REMOTE_LOCK:
        if kind not in _REMOTE:
            _REMOTE[kind] = ray.remote(JobActor) if kind == "actor" else ray.remote(run_task)
        return _REMOTE[kind]


_REMOTE: dict[str, Any] = {}
_REMOTE_LOCK = threading.Lock()


class RayBackend(CheckpointFiles):
    name = "ray"

    def __init__(self, threads: int = 1, budget_bytes: int | None = None, address: str | None = None):
        self.threads, self.budget_bytes = max(1, int(threads)), budget_bytes
        env = os.environ.get(ADDRESS_ENV, "").strip()
        self.address = address if address is not None else (env or None)
        self._lock = threading.Lock()
        self._owns_ray = False
        self._host: SimpleNamespace | None = None   # the thread that runs ray.init
        self._closed = threading.Event()
        self._spool: Path | None = None
        self._running_keys: dict[str, int] = {}     # configurations this replica follows now
        self._nodes: tuple[float, list[dict[str, float]]] = (0.0, [])

    # --- Ray itself ----------------------------------------------------------------------------------
    def connect(self) -> Any:
        """The ``ray`` module, connected: to ACTVIZ_RAY_ADDRESS, else a local Ray with this machine's CPUs.
        InputError when that fails or takes over CONNECT_TIMEOUT_S (Ray itself retries an unreachable
        address for ever: a job must fail saying so, not wait)."""
        import ray

        with self._lock:
            if ray.is_initialized() and self._host is None:  # connected by someone else in this process
                return ray
            if self._host is None or (self._host.done.is_set() and self._host.failure):
                self._host = self._start_host(ray)  # the first call, or a retry after a failure
            host = self._host
        at = f" at {self.address} ({ADDRESS_ENV})" if self.address else ""
        hint = TOKEN_HINT if self.address else ""
        if not host.done.wait(CONNECT_TIMEOUT_S):
            raise InputError(f"could not reach the Ray cluster{at} within {CONNECT_TIMEOUT_S:g} s{hint}")
        if host.failure:
            raise InputError(f"could not reach the Ray cluster{at}: {str(host.failure[0])[:300]}{hint}")
        return ray

    def _start_host(self, ray: Any) -> SimpleNamespace:
        """``ray.init`` in a thread that lives until :meth:`close`: a local Ray's processes are bound to the
        thread that starts them (Linux's parent-death signal is per thread), so a Ray started from a short-lived
        thread (the warm-up, a job's follower) would die with it."""
        host = SimpleNamespace(done=threading.Event(), failure=[])
        # "local": a new Ray even if another on this machine left its address behind in /tmp/ray.
        where = {"address": self.address} if self.address else {"address": "local", "num_cpus": os.cpu_count() or 1}

        def run() -> None:
            try:
                ray.init(namespace=NAMESPACE, include_dashboard=False, runtime_env=RUNTIME_ENV, **where)
                with self._lock:
                    self._owns_ray = True
                LOG.info("jobs run on Ray (%s): %s", self.address or "local", ray.cluster_resources())
            except Exception as exc:  # noqa: BLE001 - reported by connect()
                LOG.warning("could not start or join Ray (%s): %s", self.address or "local", exc)
                host.failure.append(exc)
            host.done.set()
            if not host.failure:
                self._closed.wait()

        threading.Thread(target=run, name="actviz-ray-host", daemon=True).start()
        return host

    def fit(self, threads: int, memory_bytes: int, what: str = "this job") -> int:
        """The CPUs to ask for (at most a machine's), or InputError when no machine has the memory."""
        ray = self.connect()
        stamp, nodes = self._nodes
        if time.monotonic() - stamp > NODES_TTL_S or not nodes:
            nodes = [dict(n.get("Resources") or {}) for n in ray.nodes() if n.get("Alive")]
            self._nodes = (time.monotonic(), nodes)
        most_cpus = max((int(n.get("CPU", 0)) for n in nodes), default=0)
        cpus = max(1, min(int(threads), most_cpus))
        if not any(n.get("memory", 0) >= memory_bytes and n.get("CPU", 0) >= cpus for n in nodes):
            largest = max((n.get("memory", 0) for n in nodes), default=0)
            raise InputError(f"{what} needs {budget.human_bytes(memory_bytes)} of memory on one machine (its "
                             f"estimate plus the worker's own), but the largest machine of the Ray cluster offers "
                             f"{budget.human_bytes(int(largest))} to jobs; use a smaller network, batch or dataset, "
                             "or add a bigger machine to the cluster")
        return cpus

    @property
    def spool(self) -> Path:
        with self._lock:
            if self._spool is None:
                self._spool = spool_dir()
            return self._spool

    # --- the backend interface ---------------------------------------------------------------------------
    def warm(self) -> None:
        def go() -> None:
            try:
                self.connect()
            except Exception:  # the first job says why; the server stays up
                LOG.exception("connecting to Ray failed")
        threading.Thread(target=go, name="actviz-ray-warm", daemon=True).start()

    def start(self, job: Any, payload: dict[str, Any]) -> RayExecution:
        execution = RayExecution(self, job, payload)
        threading.Thread(target=execution.follow, name=f"actviz-ray-{str(payload['job_id'])[:6]}",
                         daemon=True).start()
        return execution

    def claim(self, key: str, job_id: str) -> str:
        """The actor name for a job: the configuration's, unless this replica already follows that
        configuration (then the user asked for a fresh run: a name of its own)."""
        with self._lock:
            fresh = self._running_keys.get(key, 0) > 0
            self._running_keys[key] = self._running_keys.get(key, 0) + 1
        return actor_name(key) + (f"-{job_id}" if fresh else "")

    def unclaim(self, key: str) -> None:
        with self._lock:
            left = self._running_keys.get(key, 0) - 1
            if left > 0:
                self._running_keys[key] = left
            else:
                self._running_keys.pop(key, None)

    def run_task(self, fn: Any, args: tuple[Any, ...], estimate_bytes: int, interrupt: Any,
                 timeout_s: float | None) -> Any:
        """``fn(*args)`` as a Ray task asking for its estimated memory; ``interrupt`` may raise to cancel."""
        ray = self.connect()
        memory = int(estimate_bytes) + worker.MARGIN_BYTES
        self.fit(1, memory, "this computation")
        ref = _remote("task").options(num_cpus=1, memory=memory,
                                      max_retries=0).remote(fn, args, int(estimate_bytes), self.budget_bytes)
        deadline = time.monotonic() + timeout_s if timeout_s else None
        try:
            while not ray.wait([ref], timeout=0.1)[0]:
                if interrupt is not None:
                    interrupt()
                if deadline is not None and time.monotonic() > deadline:
                    raise InputError("the computation took longer than this server allows one computation "
                                     "(ACTVIZ_MAX_JOB_MINUTES); use a smaller network or fewer samples")
        except BaseException:
            ray.cancel(ref, force=True)
            raise
        try:
            kind, value = ray.get(ref)
        except Exception as exc:  # the task's worker died (Ray's memory monitor, a crash)
            raise InputError(_ended_message(exc, int(estimate_bytes), self.budget_bytes)) from exc
        if kind != "result":
            raise InputError(value)
        return value

    def close(self) -> None:
        with self._lock:
            owns, self._owns_ray = self._owns_ray, False
        if owns:
            import ray

            ray.shutdown()
        self._closed.set()
        with self._lock:
            spool, self._spool = self._spool, None
        if spool is not None and spool.name.startswith("actviz-models-"):  # a private temporary folder
            shutil.rmtree(spool, ignore_errors=True)


def _ended_message(exc: BaseException, estimate_bytes: int, budget_bytes: int | None) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if "memory" in text.lower():
        return worker.oom_message(estimate_bytes, budget_bytes)
    return f"the job's Ray worker ended unexpectedly ({text[:300]}); the server and other jobs are fine"


class RayExecution:
    """One job as this replica follows it: commands go to the job actor, its reports come back to ``job``."""

    def __init__(self, backend: RayBackend, job: Any, payload: dict[str, Any]) -> None:
        self.backend, self.job, self.payload = backend, job, payload
        self.key = payload["config"].key()
        self.follower = uuid.uuid4().hex
        self.actor_name: str | None = None
        self._lock = threading.Lock()
        self._handle: Any = None
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._killed = self._cancelled = False
        self._cpu: float | None = None

    # --- the execution interface ---------------------------------------------------------------------
    def control(self, command: str, *args: Any) -> None:
        if command == "cancel":
            with self._lock:
                if self._handle is None:  # still waiting for room on the cluster: stop waiting, nothing ran
                    self._cancelled = True
                    return
        self._call("command", command, list(args))

    def hold(self) -> None:
        self._call("hold")

    def release(self) -> None:
        self._call("release")

    def kill(self) -> None:
        with self._lock:
            self._killed, handle = True, self._handle
        if handle is not None:
            import ray

            ray.kill(handle)

    def cpu_seconds(self) -> float | None:
        """CPU time of the job's actor process, as of the last poll; 0 while the cluster has not placed it
        (waiting for room is not computing: the overrun check must not count it)."""
        return self._cpu if self._cpu is not None else 0.0

    def _call(self, method: str, *args: Any) -> None:
        with self._lock:  # under the lock: a call made now cannot overtake the ones waiting to be sent
            if self._handle is None:
                self._pending.append((method, args))
            else:
                getattr(self._handle, method).remote(self.follower, *args)

    # --- following the job (a thread per job) ----------------------------------------------------------
    def follow(self) -> None:
        name = self.backend.claim(self.key, str(self.payload["job_id"]))
        try:
            try:
                handle = self._join(name)
            except InputError as exc:
                self.job.on_message(("failed", str(exc)))
                return self.job.on_exit(None)
            except Exception as exc:  # noqa: BLE001 - Ray refused or lost the actor
                return self.job.on_exit(self._ended(exc))
            if handle is None and self._killed:
                return self.job.on_exit("the job was killed")
            if handle is None:  # cancelled while the cluster had no room for it
                self.job.on_message(("done", [], True))
                return self.job.on_exit(None)
            self._pump(handle)
        finally:
            self.backend.unclaim(self.key)

    def _join(self, name: str) -> Any:
        """Create the job actor or find the one another replica created; None if killed meanwhile."""
        ray = self.backend.connect()
        memory = int(self.payload["estimate_bytes"]) + worker.MARGIN_BYTES
        cpus = self.backend.fit(int(self.payload.get("threads") or 1), memory)
        payload = {**self.payload, "threads": cpus}
        for attempt in range(3):
            handle = _remote("actor").options(
                name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, num_cpus=cpus,
                memory=memory, max_restarts=0).remote()
            try:
                joined = self._wait(ray, handle.join.remote(self.follower))  # waits while the cluster is full
            except ray.exceptions.RayActorError:  # it was ending just then
                joined = False
            if joined is None:
                if self._killed:
                    ray.kill(handle)
                else:  # cancelled: leave as soon as placed (another replica may be waiting for the same actor)
                    handle.leave.remote(self.follower)
                return None
            if joined:
                break
            name = f"{actor_name(self.key)}-{self.payload['job_id']}-{attempt}"  # that one finished: train anew
        else:
            raise InputError("could not start the job on Ray (its actor kept ending); try again")
        self.actor_name = name
        handle.start.remote(payload)
        with self._lock:
            self._handle = handle
            for method, args in self._pending:
                getattr(handle, method).remote(self.follower, *args)
            self._pending = []
        return handle

    def _wait(self, ray: Any, ref: Any) -> Any:
        """``ray.get(ref)``, or None once this execution was killed or cancelled."""
        while not ray.wait([ref], timeout=0.5)[0]:
            if self._killed or self._cancelled:
                return None
        return ray.get(ref)

    def _pump(self, handle: Any) -> None:
        import ray

        cursor = 0
        while True:
            try:
                messages, cursor, self._cpu, following = ray.get(handle.poll.remote(self.follower, cursor))
            except Exception as exc:  # noqa: BLE001 - the actor died: killed, out of memory, its machine gone
                return self.job.on_exit(self._ended(exc))
            final = False
            for message in messages:
                if message[0] == "done":
                    message = ("done", self._fetch(ray, handle, message[1]), message[2])
                final = final or message[0] in ("done", "failed")
                self.job.on_message(message)
            if final:
                try:
                    if ray.get(handle.leave.remote(self.follower)):
                        ray.kill(handle)
                except Exception:  # noqa: BLE001 - gone already
                    pass
                return self.job.on_exit(None)
            if not following:  # this replica stopped following while others still do
                self.job.on_message(("done", [], True))
                return self.job.on_exit(None)
            time.sleep(POLL_S)

    def _fetch(self, ray: Any, handle: Any, indices: list[int | None]) -> list[str | None]:
        """The trained models, from the actor into this server's spool folder (read with the usual checks)."""
        paths: list[str | None] = []
        for run, index in enumerate(indices):
            data = None
            if index is not None:
                try:
                    data = ray.get(handle.checkpoint.remote(index), timeout=120)
                except Exception:  # noqa: BLE001 - that run's model is lost; its records are not
                    LOG.exception("could not fetch a trained model from Ray")
            path = self.backend.spool / f"{self.payload['job_id']}-{run}.zip"
            paths.append(worker.write_checkpoint(path, data) if data else None)
        return paths

    def _ended(self, exc: BaseException) -> str:
        if self._killed:
            return "the job was killed"
        return _ended_message(exc, int(self.payload["estimate_bytes"]), self.payload.get("budget_bytes"))
