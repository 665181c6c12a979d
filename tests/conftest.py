"""Shared test set-up: run from the repository root so app and page paths resolve."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("ACTVIZ_TESTING", "1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
