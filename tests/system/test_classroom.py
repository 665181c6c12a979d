"""Classroom load test: 30 students on the server started exactly as the Docker image starts it.

Bounded in time (about two minutes), loopback only.  See bench/classroom.py for the scenario; the
benchmark reports its latencies, jobs per minute and memory.
"""

from __future__ import annotations

import sys
import time

import pytest

from tests.system import docker_helpers as dh
from tests.system.browser_helpers import ARTIFACTS, require_browser

sys.path.insert(0, str(dh.ROOT / "bench"))
import classroom  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_thirty_students_share_the_server_fairly_and_nothing_leaks(chromium):
    require_browser()
    contract = dh.parse()
    log_path = ARTIFACTS / "classroom-server.log"
    with dh.run_cmd(contract, classroom.SERVER_ENV, log_name="classroom-server") as proc:
        deadline = time.monotonic() + 90
        while not dh.healthy(contract):
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.5)
        report = classroom.run("http://127.0.0.1:8501", proc.pid, log_path, students=30, browsers=4,
                               timeout=300, screenshot=ARTIFACTS / "classroom.png", browser=chromium)
    print(report)
    assert not report["errors"], report["errors"][:5]
    assert report["finished"] == 30 and report["results_shown"] == 30, "every student saw their results"
    jobs = report["jobs"]
    # Fifteen students pressed the same preset: those who pressed while it was queued or training watched
    # that one job (a job that has finished trains anew on Start).  The other fifteen each changed the seed.
    assert report["distinct_configs"] == 16 <= jobs["queued"] < 30
    assert jobs["done"] == jobs["queued"] and jobs["failed"] == 0
    assert 1 <= jobs["max_running"] <= jobs["limit"], "never more jobs at once than the limit"
    assert report["saw_queue"] >= 1, "students whose job waited saw their place in the queue"
    assert report["threads_after"] <= report["threads_before"] + 2, "worker and session threads were freed"
    assert jobs["freed"] >= jobs["queued"], "every job was freed after its TTL"
    growth = report["rss_after_mb"] - report["rss_before_mb"]
    assert growth <= max(150.0, 0.5 * (report["rss_peak_mb"] - report["rss_before_mb"])), report
