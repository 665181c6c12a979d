#!/usr/bin/env bash
# Retake the README's screenshots (docs/screens/): every page at 1280x720 and at 150 % zoom, each
# gradient-flow preset's first screen, the lab after a race.  They are the readability tests' own
# screenshots (tests/system/test_readable.py), so a screenshot exists only if its page passed.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf docs/screens && mkdir -p docs/screens
ACTVIZ_SHOTS=docs/screens .venv/bin/python -m pytest -m browser -q -p no:cacheprovider tests/system/test_readable.py
# 256-colour PNGs: a fifth of the size, and the charts' flat colours survive.
.venv/bin/python - <<'PY'
from pathlib import Path
from PIL import Image
for p in sorted(Path("docs/screens").glob("*.png")):
    Image.open(p).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(p, optimize=True)
    print(p, p.stat().st_size // 1024, "KB")
PY
