"""Wall time of a two-device farm run with one worker and with two (pytest-xdist).

Two local Chromium devices, each behind its own Appium server (as two farm
hosts), run every requirement; the same run is timed with -n 1 (one worker
takes the devices one after the other) and -n 2 (one worker per device).

    python bench/bench_farm.py [--runs 2] [-k EXPR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FARM = """devices:
  bench-a: {platform: chromium, appium: local, groups: [bench], identifiers: {serial: BENCHA0000001}}
  bench-b: {platform: chromium, appium: local, groups: [bench], identifiers: {serial: BENCHB0000001}}
"""


def timed(reports: str, inv: str, workers: int, run_id: str, select: list[str]) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", reports, "--run-id", run_id,
         "--devices-file", inv, "--devices", "bench", "--no-report", "-n", str(workers), *select],
        cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("-k", default=None, help="pytest -k expression to run a subset")
    args = ap.parse_args()
    select = ["-k", args.k] if args.k else []
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as tmp:
        inv = Path(tmp) / "devices.yaml"
        inv.write_text(FARM)
        one, two = [], []
        for i in range(args.runs):
            one.append(timed(tmp, str(inv), 1, f"one-{i}", select))
            two.append(timed(tmp, str(inv), 2, f"two-{i}", select))
            print(f"run {i}: -n 1 {one[-1]:.1f} s, -n 2 {two[-1]:.1f} s")
    m1, m2 = statistics.median(one), statistics.median(two)
    print(f"median wall time: -n 1 {m1:.1f} s, -n 2 {m2:.1f} s; ratio -n 2 / -n 1 = {m2 / m1:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
