"""How many torch intra-op threads a training job uses (torch's setting is per process, so jobs that
train at once in one process share one setting: the smallest asked for wins while any of them runs)."""

from __future__ import annotations

import threading

import torch

from actviz.training.config import TrainConfig

SMALL_STEP_MACS = 1 << 20   # a step whose largest matmul is below this many multiply-adds runs on one thread
_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 0


def intra_op_threads(cfg: TrainConfig, n_features: int) -> int:
    """How many torch intra-op threads a job's steps should use.

    Small nets (the classroom's 16-16 on 2-D data) gain nothing from splitting a 64 x 16 matmul over
    cores, and on a busy machine an intra-op thread that has to wait for a core stalls every step
    (measured on the 2-core development box under load: a 40-epoch race took 15-67 s on two threads,
    1.2-2.6 s on one).  Larger nets keep torch's default.
    """
    sizes = [len(cfg.features) or n_features, *cfg.hidden, 10]
    batch = cfg.batch_size or 1024
    biggest = max(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False)) * batch * len(cfg.plan())
    return 1 if biggest < SMALL_STEP_MACS else torch.get_num_threads()


class Threads:
    """Use ``n`` intra-op threads while any job that asked for fewer trains (torch's setting is per process)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        global _threads_users, _threads_saved
        if self.n >= torch.get_num_threads():
            self.n = 0
            return
        with _threads_lock:
            if _threads_users == 0:
                _threads_saved = torch.get_num_threads()
            _threads_users += 1
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        global _threads_users
        if not self.n:
            return
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)
