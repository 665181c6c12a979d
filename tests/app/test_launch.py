"""The launcher's start-up work: the pages' modules imported and the long-lived objects frozen."""

from __future__ import annotations

import gc
import subprocess
import sys


def test_startup_freezes_the_page_modules_out_of_the_collectors_reach(repo_root):
    # In a fresh interpreter: freezing is process-wide and would change the test process's collector.
    code = ("import gc, sys; from ui import launch; before = gc.get_freeze_count(); "
            "launch._freeze_long_lived_objects(); "
            "print(before, gc.get_freeze_count(), 'ui.training_view' in sys.modules, "
            "'actviz.views.gallery' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    before, after, lab, gallery = done.stdout.split()
    assert int(before) == 0 and int(after) > 100_000  # torch, Plotly, Streamlit, pandas: their objects
    assert lab == gallery == "True"
    assert gc.get_freeze_count() == 0  # this process untouched
