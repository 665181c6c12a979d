"""Gallery rerun time in AppTest while a 4-activation training job runs in the same process.

Target: the rerun under load is at most 2x the idle rerun, both measured in this run (interleaving
idle and loaded phases so that machine noise shifts both).
"""

from __future__ import annotations

import statistics
import threading
import time

from common import ROOT, cli, emit, gallery_apptest  # noqa: F401  (ROOT puts the repo on sys.path)

from bench.training import background_job


def main() -> None:
    args = cli(__doc__)
    at = gallery_apptest(["sigmoid", "tanh", "relu", "swish"])
    values = [0.5 + 0.05 * i for i in range(200)]
    counter = iter(range(100_000))

    def rerun() -> float:
        t0 = time.perf_counter()
        at.slider(key="g_p_swish_beta").set_value(values[next(counter) % len(values)]).run()
        assert not at.exception, at.exception
        return time.perf_counter() - t0

    rerun()
    idle, loaded = [], []
    for _ in range(2 if args.quick else 4):
        idle += [rerun() for _ in range(3)]
        stop = threading.Event()
        worker = background_job(stop)
        time.sleep(1.0)  # let the job get into its epochs
        loaded += [rerun() for _ in range(3)]
        stop.set()
        worker.join()
    ratio = statistics.median(loaded) / statistics.median(idle)
    emit({"metric": "gallery rerun while a 4-activation job trains / idle rerun (AppTest)", "value": ratio,
          "unit": "ratio", "target": 2.0, "met": ratio <= 2.0, "reference": "idle rerun, same run",
          "idle_ms": 1e3 * statistics.median(idle), "loaded_ms": 1e3 * statistics.median(loaded),
          "ratio_to_reference": ratio}, args.json)


if __name__ == "__main__":
    main()
