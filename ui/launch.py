"""Start the app: ``python -m ui.launch [streamlit options]`` (what `make run` and the Docker image use).

The same as ``streamlit run app.py``, plus actviz's own log lines (jobs queued, started, finished;
limits ignored) in the server log.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _log_to_stderr() -> None:
    """actviz's own log lines (jobs queued/started/finished, limits ignored) in the server log."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log = logging.getLogger("actviz")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _warm_workers() -> None:
    """Start the job workers while Streamlit starts: torch is imported once, in the forkserver, so the
    first job does not wait seconds for it."""
    import threading

    def warm() -> None:
        import torch

        from actviz.training import jobs

        # Training runs in worker processes; what is left here is small (curves, a network view), which
        # one thread does faster than a pool competing with the workers for two cores.
        torch.set_num_threads(1)
        jobs.manager().warm()
        _freeze_long_lived_objects()

    threading.Thread(target=warm, name="actviz-warm", daemon=True).start()


def _freeze_long_lived_objects() -> None:
    """Import what the pages import, then move every object the process holds so far out of the garbage
    collector's reach (``gc.freeze``).  About 280,000 objects are modules' (torch, Plotly, Streamlit,
    pandas) and live as long as the server; each full collection walked all of them, stopping every
    session for 50-260 ms, several times within a few seconds while a class arrived."""
    import ast
    import gc
    import importlib

    from ui.pages import PAGES

    for script in (ROOT / "app.py", *(ROOT / page.path for page in PAGES)):
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                importlib.import_module(node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)
    from actviz.plots.plain_figures import plain_figure

    plain_figure([], {})  # Plotly reads its default template on the first figure (~0.2 s): not a student's
    gc.collect()
    gc.freeze()


def _check_job_backend() -> None:
    """A mistyped ACTVIZ_JOB_BACKEND (or Ray missing for it) stops the start, naming the valid values."""
    from actviz.errors import InputError
    from actviz.training import backend_config

    try:
        backend_config.configured()
    except InputError as exc:
        print(f"actviz: {exc}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    _check_job_backend()
    _log_to_stderr()
    _warm_workers()
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
