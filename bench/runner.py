"""Speed benchmark: ``python -m actviz bench [--json] [--quick] [--only SECTION]`` (from the repository root).

Machines here are shared and noisy, so every target is a *ratio* between the measured work and a
reference measured in the same run, interleaved with it (min or median of paired samples).  Nothing
here is a pass/fail unit test; the report says whether each target was met on this run.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from actviz import activations
from actviz.activations import curves
from actviz.activations.choice import choose

# section name -> "module:function" (core, in-process) or "script:bench/<file>.py" (sections that
# drive the Streamlit app; they run in a subprocess because actviz/ never imports streamlit).  Each
# returns a dict with at least {"metric", "value", "unit", "target", "met"}.
SECTIONS: dict[str, str] = {
    "catalogue": "bench.runner:bench_catalogue",
    "gallery_rerun": "script:bench/gallery_rerun.py",
    "gallery_morph": "script:bench/gallery_morph.py",
    "costs": "bench.costs:bench_costs",
    "training_throughput": "bench.training:bench_training_throughput",
    "k_activations": "bench.training:bench_k_activations",
    "classroom_race": "bench.races:bench_classroom_race",
    "seeds_race": "bench.races:bench_seeds_race",
    "big_net_race": "bench.big_race:bench_big_net_race",
    "gallery_under_training": "script:bench/gallery_under_training.py",
    "gradient_diagnostics": "bench.diagnostics:bench_diagnostics",
    "dead_neurons": "bench.diagnostics:bench_dead_neurons",
    "classroom": "script:bench/classroom.py",
    "fair_start": "script:bench/fair_start.py",
    "first_live_point": "script:bench/first_live_point.py",
    "resume_points": "bench.resume_points:bench_resume_points",
}
ROOT = Path(__file__).resolve().parent.parent


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def paired(work: Callable[[], Any], reference: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Time ``work`` and ``reference`` alternately; report the medians and the median ratio."""
    work(), reference()  # warm-up
    w, r, ratios = [], [], []
    for _ in range(repeats):
        tr = timed(reference)
        tw = timed(work)
        w.append(tw)
        r.append(tr)
        ratios.append(tw / tr if tr > 0 else math.inf)
    return {"work_ms": 1e3 * statistics.median(w), "reference_ms": 1e3 * statistics.median(r),
            "ratio": statistics.median(ratios)}


def bench_catalogue(quick: bool = False) -> dict[str, Any]:
    """y, dy, d2y for the whole catalogue on 2,001 points vs the bare forward of the same tensors."""
    x = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    fns = [choose(n).function() for n in activations.names()]

    def work() -> None:
        for fn in fns:
            curves.derivatives(fn, x)

    def reference() -> None:
        with torch.no_grad():
            for fn in fns:
                fn(x)

    res = paired(work, reference, 5 if quick else 30)
    return {"metric": "catalogue y+dy+d2y on 2,001 points (all entries)", "value": res["work_ms"],
            "unit": "ms", "target": 50.0, "met": res["work_ms"] <= 50.0,
            "reference": "bare forward of the same tensors", "reference_ms": res["reference_ms"],
            "ratio_to_reference": res["ratio"], "entries": len(fns)}


def run(quick: bool = False, only: list[str] | None = None) -> dict[str, Any]:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "quick": quick, "sections": {}}
    for name, target in SECTIONS.items():
        if only and name not in only:
            continue
        try:
            report["sections"][name] = _run_section(target, quick)
        except Exception as exc:  # a broken section must not hide the others' numbers
            report["sections"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    return report


def _run_section(target: str, quick: bool) -> dict[str, Any]:
    kind, _, where = target.partition(":")
    if kind == "script":
        cmd = [sys.executable, str(ROOT / where), "--json"] + (["--quick"] if quick else [])
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"{where} exited with {done.returncode}: {tail[0]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    func = getattr(importlib.import_module(kind), where)
    return func(quick=quick)


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"actviz bench — python {m['python']}, torch {m['torch']}, {m['cpus']} CPUs")
    for name, sec in report["sections"].items():
        if "error" in sec:
            print(f"  {name:24s} ERROR {sec['error']}")
            continue
        mark = "ok " if sec.get("met") else "MISS"
        extra = ""
        if "ratio_to_reference" in sec:
            extra = f"  (ratio {sec['ratio_to_reference']:.2f}× vs {sec.get('reference', 'reference')})"
        target = "-" if sec.get("target") is None else format(sec["target"], "g")
        print(f"  [{mark}] {name:22s} {sec['metric']}: {sec['value']:.3g} {sec['unit']} (target {target}){extra}")
