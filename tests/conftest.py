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
# Figures built from plain dicts skip Plotly's validation when served; under the tests every one is validated.
os.environ.setdefault("ACTVIZ_STRICT_FIGURES", "1")
# Tests keep jobs in memory unless they give a state folder themselves (never the developer's ./state).
os.environ.pop("ACTVIZ_STATE_DIR", None)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def app_url():
    """One Streamlit server for the browser tests of a session."""
    from tests.system.browser_helpers import require_browser, streamlit_server

    require_browser()
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="session")
def chromium():
    from tests.system.browser_helpers import launch_chromium, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser page that records uncaught page errors in ``page.errors``."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    yield pg
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, keep what every open page showed: a screenshot in
    test-artifacts/failed/ and the page's text in the report (CI keeps only the output)."""
    outcome = yield
    report = outcome.get_result()
    browser = item.funcargs.get("chromium") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or browser is None:
        return
    from tests.system.browser_helpers import ARTIFACTS

    folder = ARTIFACTS / "failed"
    folder.mkdir(parents=True, exist_ok=True)
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in item.name)[:120]
    pages = [pg for context in browser.contexts for pg in context.pages]
    for n, pg in enumerate(pages):
        try:
            pg.screenshot(path=str(folder / f"{name}-{n}.png"), full_page=True, timeout=10_000)
            text = pg.inner_text("body", timeout=5_000)
        except Exception as exc:  # the page may be the reason the test failed
            text = f"(could not read the page: {exc})"
        report.sections.append((f"page {n} ({pg.url})", text[:3000]))
