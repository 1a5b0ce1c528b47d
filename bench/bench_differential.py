"""What a differential scenario costs against the same scenario run plain.

Runs `telltale run --suite bench/differential/differential_suite.py` on a device (the
embedded local-chromium by default; `--device local-chromium-leaky-xor` to time one that
leaks), where the same visit-and-check scenario is written three times plain and three times
@differential, and prints each scenario's duration from its Allure result (start to stop:
setup, windows, checks, evidence) with the medians of each kind and their ratio. Not run in
tests; see bench/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from telltale.results import read_results

ROOT = Path(__file__).resolve().parents[1]
SUITE = "bench/differential/differential_suite.py"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="local-chromium")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="telltale-bench-") as tmp:
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "telltale.cli", "run", "--device", args.device,
                               "--suite", SUITE, "--reports", tmp, "--run-id", "bench", "--no-report"],
                              cwd=ROOT, capture_output=True, text=True)
        total = time.monotonic() - started
        results = read_results(Path(tmp) / "bench" / "allure-results")
    if not results:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        return 2
    kinds: dict[str, list[float]] = {"plain": [], "differential": []}
    print(f"device {args.device}; telltale run {total:.1f} s (exit {proc.returncode})\n")
    print("scenario | status | seconds")
    print("--- | --- | ---")
    for r in sorted(results, key=lambda r: r.name or ""):
        seconds = (int(r.raw.get("stop", 0)) - int(r.raw.get("start", 0))) / 1000
        kinds["differential" if (r.name or "").startswith("Differential") else "plain"].append(seconds)
        print(f"{r.name} | {r.status} | {seconds:.2f}")
    plain, diff = statistics.median(kinds["plain"]), statistics.median(kinds["differential"])
    print(f"\nmedian plain {plain:.2f} s, differential {diff:.2f} s: {diff / plain:.2f}x "
          f"(+{diff - plain:.2f} s a scenario)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
