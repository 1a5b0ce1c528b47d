"""Wall time of the compliance job and Telltale's overhead per scenario.

Runs `telltale run` on a device a few times into a scratch reports folder and
prints, per run: the wall time of the whole job (suite + report), and per
scenario: its duration, the time of its browser actions (the When steps), and
the rest, which is Telltale's overhead (session reset, window open/close,
reading the window's flows, detection, evidence).

    python bench/bench_compliance.py [--runs 3] [--device local-chromium]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _steps(node: dict) -> list[dict]:
    return node.get("steps", [])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default="local-chromium")
    args = ap.parse_args()
    walls, overheads, actions, totals = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-compliance-") as tmp:
        for i in range(args.runs):
            t0 = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "telltale.cli", "run", "--reports", tmp, "--run-id", f"r{i}",
                 "--device", args.device], cwd=ROOT, capture_output=True, text=True, check=False)
            wall = time.monotonic() - t0
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
                return 1
            walls.append(wall)
            for f in (Path(tmp) / f"r{i}" / "allure-results").glob("*-result.json"):
                r = json.loads(f.read_text())
                total = (r["stop"] - r["start"]) / 1000
                def took(prefixes: tuple[str, ...], r: dict = r) -> float:
                    return sum((s["stop"] - s["start"]) / 1000 for s in _steps(r)
                               if s["name"].startswith(prefixes))

                act, session = took(("When ",)), took(("Given ",))
                judge = took(("Then ", "And "))
                totals.append(total)
                actions.append(act)
                overheads.append(total - act - session)
                print(f"run {i}: {r['name'][:56]:56s} scenario {total:5.2f} s = session start/reset "
                      f"{session:4.2f} + actions {act:4.2f} + judging {judge:4.2f} + rest "
                      f"{total - act - session - judge:4.2f}")
            print(f"run {i}: wall time of `telltale run` (suite + report) {wall:.1f} s")

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs):.2f} s"

    print(f"\nmedian over {args.runs} runs: job wall {med(walls)}; per scenario: total {med(totals)}, "
          f"browser actions {med(actions)}, Telltale overhead beyond the actions and the browser "
          f"session start/reset {med(overheads)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
