"""`telltale run`: the compliance job. Runs the Gherkin suite on a device into a new run
folder, always makes the report (also when requirements failed), repoints
reports/latest, and exits with the suite's status.

The suite is pytest + pytest-bdd in a child process; the engine only starts it
and reads its Allure results.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from telltale import bundle, inventory, matrix, paths, report, runs
from telltale import redact as redaction
from telltale.errors import TelltaleError

SUITE = "steps/test_requirements.py"


def run(args: argparse.Namespace, pytest_args: list[str]) -> int:
    lay = paths.layout()
    inv_file = args.devices_file or str(lay.devices)
    chosen = inventory.select(inventory.load(inv_file), args.device, args.devices, inv_file)
    devices = [d.name for d in chosen]  # fail fast, by name
    if any(d.boundary == "sealed" for d in chosen):
        from telltale.capture import boundary

        problem = boundary.requirements_problem()
        if problem:  # never a silent fall-back to the proxy setting
            sealed = ", ".join(d.name for d in chosen if d.boundary == "sealed")
            raise TelltaleError(f"{sealed}: {problem}")
        boundary.clean_stale(lambda msg: print(f"telltale run: {msg}", flush=True))
    reports = Path(args.reports) if args.reports else lay.reports
    reports.mkdir(parents=True, exist_ok=True)
    run_dir = runs.create(reports, args.run_id)
    started = time.monotonic()
    cmd = [sys.executable, "-m", "pytest", args.suite or SUITE, "-p", "no:cacheprovider", "--tb=short",
           f"--alluredir={run_dir / 'allure-results'}", f"--telltale-run-dir={run_dir}",
           *(f"--device={d}" for d in devices), f"--devices-file={inv_file}",
           *(["--no-redact"] if args.no_redact else []),
           *([f"--telltale-idle={args.idle}"] if getattr(args, "idle", None) is not None else []),
           *pytest_args]
    print(f"telltale run: {run_dir} on {', '.join(devices)}", flush=True)
    code = subprocess.call(cmd, cwd=lay.root)
    suite_s = time.monotonic() - started
    runs.point_latest(reports, run_dir)
    if not args.no_redact:
        for cap in sorted((run_dir / "captures").glob("*.mitm")):
            total, cut = redaction.capture_file(cap)
            if cut:
                print(f"telltale run: {cap.name}: credentials redacted in {cut} of {total} flows")
        for rec in sorted((run_dir / "captures").glob("*.pcap")):
            cut = redaction.packet_record(rec)
            if cut:
                print(f"telltale run: {rec.name}: {cut} clear-text credential value(s) blanked")
    counts = runs.statuses(run_dir / "allure-results")
    matrix.write(run_dir)
    html = None
    if not args.no_report:
        try:
            html = report.generate(lay, run_dir, name=f"Telltale compliance: {', '.join(devices)}")
        except TelltaleError as e:
            print(f"telltale run: report not made: {e}", file=sys.stderr)
            code = code or 2
    key = args.signing_key or os.environ.get("TELLTALE_SIGNING_KEY")
    manifest = bundle.write_manifest(run_dir, lay.root, Path(key) if key else None)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no results"
    print(f"telltale run: {summary} in {suite_s:.1f} s; results {run_dir / 'allure-results'}")
    if html:
        print(f"telltale run: report {html}")
    print(f"telltale run: evidence manifest {manifest}{' (signed)' if key else ''}; "
          f"check it with `telltale verify {run_dir}`")
    if code == 5:
        print("telltale run: no scenario ran (pytest exit 5): that is not a pass", file=sys.stderr)
    return code


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the compliance features on a device and make the report",
                       description="Extra arguments after the options go to pytest (e.g. -k, -m).")
    p.add_argument("--device", action="append", default=None,
                   help=f"device name in devices.yaml, repeatable (default {inventory.DEFAULT_DEVICE})")
    p.add_argument("--devices", default=None, metavar="GROUP", help="every device of a group, or `all`")
    p.add_argument("--devices-file", default=None, help="inventory file (default devices.yaml)")
    p.add_argument("--reports", default=None, help="folder of run folders (default reports/)")
    p.add_argument("--run-id", default=None, help="name of the run folder (default: time + random)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--no-redact", action="store_true",
                   help="keep credentials (cookies, Authorization, passwords) in the evidence: internal runs")
    p.add_argument("--suite", default=None, help=f"module binding the features (default {SUITE})")
    p.add_argument("--idle", type=float, default=None, metavar="SECONDS",
                   help="length of each idle soak (default 5 s; hours for a release run)")
    p.add_argument("--signing-key", default=None,
                   help="Ed25519 key (PEM) to sign the evidence manifest (or TELLTALE_SIGNING_KEY)")
    p.set_defaults(func=None, _runner=True)
