"""Start the app: ``python -m ui.launch [streamlit options]`` (what `make run` and the Docker image use).

Streamlit treats a ``pages/`` folder next to the entry script as its older multipage mode until some
session has run ``st.navigation``.  On a fresh server the first visitor's shared link (``/training-lab``)
would then be looked up among the folder's file names and answered with a "Page not found" dialog.
Starting in navigation mode from the outset gives every visitor, first or not, app.py's navigation.
``streamlit run app.py`` still works; ``ui.common.ensure_app_navigation`` covers that case.
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


def main(argv: list[str] | None = None) -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    _log_to_stderr()
    PagesManager.uses_pages_directory = False
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
