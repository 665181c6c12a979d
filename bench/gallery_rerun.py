"""Gallery rerun time in AppTest with four activations, after a slider move (target <= 0.5 s).

Reported next to the rerun of a one-line Streamlit script measured in the same run, interleaved.
"""

from __future__ import annotations

from common import ROOT, cli, emit, gallery_apptest  # noqa: F401  (ROOT puts the repo on sys.path)

from bench.runner import paired


def main() -> None:
    args = cli(__doc__)
    from streamlit.testing.v1 import AppTest

    at = gallery_apptest(["sigmoid", "tanh", "relu", "swish"])
    empty = AppTest.from_string("import streamlit as st\nst.write('reference')", default_timeout=60)
    empty.run()
    values = [0.5 + 0.05 * i for i in range(40)]
    counter = iter(range(10_000))

    def work() -> None:
        # A new parameter value each time, as a student dragging the slider produces.
        at.slider(key="g_p_swish_beta").set_value(values[next(counter) % len(values)]).run()
        assert not at.exception, at.exception

    res = paired(work, lambda: empty.run(), 3 if args.quick else 12)
    seconds = res["work_ms"] / 1e3
    emit({"metric": "gallery rerun after a slider move, 4 activations (AppTest)", "value": seconds,
          "unit": "s", "target": 0.5, "met": seconds <= 0.5,
          "reference": "rerun of a one-line Streamlit script", "reference_ms": res["reference_ms"],
          "ratio_to_reference": res["ratio"]}, args.json)


if __name__ == "__main__":
    main()
