"""What the sealed capture boundary costs: per device (set-up, proof, teardown) and per scenario.

1. Starts and stops the capture of one device N times with each boundary (capture/station.py,
   no browser): sealed = namespace + veth + nft + tcpdump + mitmdump + the seal's proof;
   proxy = mitmdump alone.
2. Runs the compliance features on the embedded browser once sealed and once behind its proxy
   setting (the same device otherwise) and compares per-scenario time: the whole scenario,
   and the judging steps (Then/And: window close, packet record reconciliation, detection).

    python bench/bench_boundary.py [--starts 5] [--runs 1]

Needs root (namespaces) and `telltale setup`.
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
sys.path.insert(0, str(ROOT / "src"))

from telltale import paths  # noqa: E402
from telltale.capture.station import Station  # noqa: E402
from telltale.inventory import Device  # noqa: E402

FARM = """devices:
  bench-sealed:
    platform: chromium
    capture: sealed
    identifiers: {serial: BENCH0000000001}
  bench-proxy:
    platform: chromium
    capture: proxy
    identifiers: {serial: BENCH0000000001}
"""


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def starts(n: int) -> None:
    lay = paths.layout(ROOT)
    for kind in ("sealed", "proxy"):
        up, down, parts = [], [], {}
        for _ in range(n):
            with tempfile.TemporaryDirectory(prefix="bench-boundary-") as tmp:
                st = Station(Device(name=f"bench-{kind}", platform="chromium", capture=kind),
                             Path(tmp) / "captures", lay.mitmproxy_conf, Path(tmp) / "logs")
                t0 = time.monotonic()
                st.start()
                up.append(time.monotonic() - t0)
                if st.network:
                    for k, v in st.network.timings.items():
                        parts.setdefault(k, []).append(v)
                    parts.setdefault("proof", []).append(st.proof["seconds"])
                t1 = time.monotonic()
                st.stop()
                down.append(time.monotonic() - t1)
        detail = ", ".join(f"{k} {med(v) * 1000:.0f} ms" for k, v in parts.items() if k != "teardown")
        print(f"{kind:6s} capture start {med(up):.2f} s ({detail or 'mitmdump only'}); "
              f"stop {med(down):.2f} s; median of {n}")


def scenarios(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-boundary-") as tmp:
        inv = Path(tmp) / "devices.yaml"
        inv.write_text(FARM)
        per: dict[str, dict[str, list[float]]] = {}
        for i in range(runs):
            for dev in ("bench-sealed", "bench-proxy"):
                t0 = time.monotonic()
                proc = subprocess.run(
                    [sys.executable, "-m", "telltale.cli", "run", "--reports", tmp, "--run-id", f"{dev}-{i}",
                     "--devices-file", str(inv), "--device", dev, "--no-report"],
                    cwd=ROOT, capture_output=True, text=True, check=False)
                wall = time.monotonic() - t0
                if proc.returncode != 0:
                    print(proc.stdout[-3000:], proc.stderr[-2000:], file=sys.stderr)
                    raise SystemExit(1)
                d = per.setdefault(dev, {"wall": [], "scenario": [], "judging": [], "actions": []})
                d["wall"].append(wall)
                for f in (Path(tmp) / f"{dev}-{i}" / "allure-results").glob("*-result.json"):
                    r = json.loads(f.read_text())
                    if r.get("status") != "passed":
                        continue
                    steps = r.get("steps", [])
                    d["scenario"].append((r["stop"] - r["start"]) / 1000)
                    d["judging"].append(sum((s["stop"] - s["start"]) / 1000 for s in steps
                                            if s["name"].startswith(("Then ", "And "))))
                    d["actions"].append(sum((s["stop"] - s["start"]) / 1000 for s in steps
                                            if s["name"].startswith("When ")))
        for dev, d in per.items():
            print(f"{dev:13s} job wall {med(d['wall']):5.1f} s; per scenario: "
                  f"total {med(d['scenario']):.2f} s, actions {med(d['actions']):.2f} s, "
                  f"judging {med(d['judging']):.2f} s "
                  f"({len(d['scenario'])} scenarios)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    starts(args.starts)
    scenarios(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
