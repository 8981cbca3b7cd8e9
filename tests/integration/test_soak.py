"""The soak test in its CI size: ``scripts/soak.py`` with 8 realtime streams for under 2 minutes.

The full run is ``scripts/soak.py --minutes 30`` (outside CI); this one runs the same checks on a
short run: RSS growth after warm-up < 5 MB, no fd or thread growth, p99 latency not drifting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def test_soak_eight_streams_short() -> None:
    argv = [sys.executable, str(SCRIPT), "--minutes", "1.75", "--warmup", "30", "--interval", "5", "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    summary = {k: v for k, v in figures.items() if k != "samples"}
    print(f"[figures] soak: {summary}")
    assert figures["daemon_alive"]
    assert figures["failures"] == [], (figures["failures"], proc.stderr[-3000:])
    assert proc.returncode == 0
    assert figures["mean_fps"] > 8 * 25 * 0.9  # every stream kept its 25 fps
