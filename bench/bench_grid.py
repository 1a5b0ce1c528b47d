"""The Grid's overhead per scenario: four devices through Selenium Grid 4 (a local hub and two
`telltale host`s with two sealed embedded devices each) against four local sealed devices, the
same requirements, one xdist worker per device.

    python bench/bench_grid.py [--runs 1] [-k EXPR]
    python bench/bench_grid.py --commands 200      # one WebDriver command: direct to Appium, through the hub

Prints, for each side, the start-up (the farm: hub and hosts proven and registered), the wall
time of `telltale run`, and the median and mean scenario duration (Allure start..stop of the
passed scenarios); the overhead per scenario is the difference of the medians.
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
sys.path.insert(0, str(ROOT / "src"))

from telltale import paths  # noqa: E402
from telltale.farm.local import LocalFarm  # noqa: E402
from telltale.results import read_results  # noqa: E402

LOCAL = "devices:\n" + "".join(
    f"  bench-l{i}: {{platform: chromium, appium: local, groups: [bench], "
    f"identifiers: {{serial: BENCHL{i:07d}}}}}\n"
    for i in range(1, 5))
SELECT = "incognito_browsing or search or identifiers"


def timed_run(inv: Path, group: str, reports: Path, run_id: str, select: str, env=None) -> tuple[float, list]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(reports), "--run-id", run_id,
         "--devices-file", str(inv), "--devices", group, "--no-report", "-n", "4", "-k", select],
        cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    wall = time.monotonic() - t0
    results = read_results(reports / run_id / "allure-results")
    if proc.returncode not in (0, 1) or not results:
        sys.exit(f"run {run_id} could not judge (exit {proc.returncode}):\n"
                 f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, results


def durations(results) -> list[float]:
    return [(r.raw["stop"] - r.raw["start"]) / 1000 for r in results
            if r.status == "passed" and "start" in r.raw and "stop" in r.raw]


def command_latency(count: int) -> None:
    """The hop itself: the same session command (the page title) `count` times on one Chromium,
    straight to its Appium server and through the hub and a relay node to the same server."""
    from appium import webdriver
    from appium.options.common import AppiumOptions

    from telltale import inventory
    from telltale.appium_server import AppiumServer
    from telltale.browser import chromium_capabilities
    from telltale.farm import grid

    lay = paths.layout(ROOT)
    dev = inventory.load(lay.devices).get(inventory.DEFAULT_DEVICE)
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        work = Path(tmp)
        jar = grid.server_jar(lay.root / "node_modules")
        hub = grid.Hub(jar, work, grid.new_secret())
        appium = AppiumServer(lay, "bench", work)
        node = None
        try:
            hub.start()
            appium.start()
            slot = grid.Slot("bench", {"platformName": "linux", "browserName": "chrome"})
            node = grid.RelayNode(jar, work, slot, appium.url, hub.address, hub.secret)
            node.start()
            for side, url in (("direct to Appium", appium.url), ("through the hub", hub.url)):
                caps = {**chromium_capabilities(dev, None, False), grid.DEVICE_CAP: "bench"}
                t0 = time.monotonic()
                d = webdriver.Remote(url, options=AppiumOptions().load_capabilities(caps))
                started = time.monotonic() - t0
                d.get("data:text/html,<title>t</title>")
                times = []
                for _ in range(count):
                    t = time.monotonic()
                    d.title  # noqa: B018 - one round trip
                    times.append((time.monotonic() - t) * 1000)
                d.quit()
                p90 = sorted(times)[int(len(times) * 0.9)]
                print(f"{side}: new session {started:.2f} s; a command median "
                      f"{statistics.median(times):.1f} ms, p90 {p90:.1f} ms ({count} commands)")
        finally:
            if node is not None:
                node.stop()
            appium.stop()
            hub.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("-k", default=SELECT, help=f"pytest -k expression (default {SELECT!r})")
    ap.add_argument("--commands", type=int, default=0, help="only time this many WebDriver commands each way")
    args = ap.parse_args()
    if args.commands:
        command_latency(args.commands)
        return 0
    lay = paths.layout(ROOT)
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        tmp = Path(tmp)
        local_inv = tmp / "local.yaml"
        local_inv.write_text(LOCAL)
        rows = {"local": [], "grid": []}
        for i in range(args.runs):
            wall, res = timed_run(local_inv, "bench", tmp / "reports", f"local-{i}", args.k)
            rows["local"].append((0.0, wall, durations(res), len(res)))
            t0 = time.monotonic()
            farm = LocalFarm(lay, tmp / f"farm-{i}", say=lambda m: None)
            farm.start()
            start = time.monotonic() - t0
            try:
                wall, res = timed_run(farm.devices_file, "grid", tmp / "reports", f"grid-{i}", args.k,
                                      farm.env)
            finally:
                farm.stop()
            rows["grid"].append((start, wall, durations(res), len(res)))
            for side in ("local", "grid"):
                s, w, d, n = rows[side][-1]
                print(f"run {i} {side}: start-up {s:.1f} s, run {w:.1f} s, {n} results, scenario median "
                      f"{statistics.median(d):.2f} s, mean {statistics.mean(d):.2f} s ({len(d)} passed)")
    med = {side: statistics.median([x for r in rs for x in r[2]]) for side, rs in rows.items()}
    walls = {side: statistics.median([r[1] for r in rs]) for side, rs in rows.items()}
    print(f"median scenario: local {med['local']:.2f} s, grid {med['grid']:.2f} s; the Grid's overhead per "
          f"scenario {med['grid'] - med['local']:+.2f} s; run wall time local {walls['local']:.1f} s, grid "
          f"{walls['grid']:.1f} s (+ farm start-up {statistics.median([r[0] for r in rows['grid']]):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
