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


def test_the_load_generators_browser_yields_the_cpu_to_the_server():
    """Chromium's processes (found by name below the benchmark's process) get a low priority, and a session
    of their own gets the lowest (kernel autogroup): a stand-in 'chromium' child that starts its own session
    as Chromium does.  The server's processes, started by the same benchmark, keep theirs."""
    import os
    import subprocess
    from pathlib import Path

    body = ("import os, sys, time; open('/proc/self/comm', 'w').write(sys.argv[1]); "
            "os.setsid() if sys.argv[2] == 'session' else None; print('ready', flush=True); time.sleep(30)")
    browser = subprocess.Popen([sys.executable, "-c", body, "chromium-test", "session"], stdout=subprocess.PIPE)
    server = subprocess.Popen([sys.executable, "-c", body, "python", "stay"], stdout=subprocess.PIPE)
    try:
        assert browser.stdout.readline() == b"ready\n" and server.stdout.readline() == b"ready\n"
        own = os.getpriority(os.PRIO_PROCESS, 0)
        classroom.yield_cpu_to_server(nice=max(own, 10))
        assert os.getpriority(os.PRIO_PROCESS, browser.pid) == max(own, 10)
        assert os.getpriority(os.PRIO_PROCESS, server.pid) == own
        group = Path(f"/proc/{browser.pid}/autogroup")
        if group.exists():  # kernels built with autogroup scheduling
            assert group.read_text().split()[-1] == "19"
            assert Path(f"/proc/{server.pid}/autogroup").read_text() == Path("/proc/self/autogroup").read_text()
    finally:
        for proc in (browser, server):
            proc.kill()
            proc.wait()
