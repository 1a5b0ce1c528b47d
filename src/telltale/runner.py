"""`telltale run`: the compliance job. Runs the Gherkin suite on a device into a new run
folder, always makes the report (also when requirements failed), repoints
reports/latest, and exits with the suite's status.

The suite is pytest + pytest-bdd in a child process; the engine only starts it
and reads its Allure results.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from telltale import inventory, manifest, matrix, names, paths, recovery, runfolder
from telltale import redact as redaction
from telltale import report as html_report
from telltale.errors import TelltaleError

SUITE = "steps/test_requirements.py"


GRACE_S = 120.0  # an interrupted suite's teardown (browsers, captures, namespaces) before it is killed


def run(args: argparse.Namespace, pytest_args: list[str]) -> int:
    lay = paths.layout()
    if args.run_id:
        names.check(args.run_id, "--run-id")
    inv_file = args.devices_file or str(lay.devices)
    chosen = inventory.select(inventory.load(inv_file), args.device, args.devices, inv_file)
    devices = [d.name for d in chosen]  # fail fast, by name
    say = _say
    recovery.recover(lay.state, lambda e: _finish_left(lay, e), say)
    if any(d.boundary == "sealed" and not d.host for d in chosen):  # a lab host seals its own
        from telltale.capture import boundary

        problem = boundary.requirements_problem()
        if problem:  # never a silent fall-back to the proxy setting
            sealed = ", ".join(d.name for d in chosen if d.boundary == "sealed" and not d.host)
            raise TelltaleError(f"{sealed}: {problem}")
        boundary.clean_stale(say)
    reports = Path(args.reports) if args.reports else lay.reports
    reports.mkdir(parents=True, exist_ok=True)
    run_dir = runfolder.create(reports, args.run_id)
    identifiers = {f"{d.name}.{k}": v for d in chosen for k, v in d.identifiers.items()}
    run_ledger, process_ledger = recovery.begin(lay.state, run_dir, redact=not args.no_redact,
                                                identifiers=identifiers)
    started = time.monotonic()
    cmd = [sys.executable, "-m", "pytest", args.suite or SUITE, "-p", "no:cacheprovider", "--tb=short",
           f"--alluredir={run_dir / 'allure-results'}", f"--telltale-run-dir={run_dir}",
           *(f"--device={d}" for d in devices), f"--devices-file={inv_file}",
           *(["--no-redact"] if args.no_redact else []),
           *([f"--telltale-idle={args.idle}"] if getattr(args, "idle", None) is not None else []),
           *pytest_args]
    say(f"{run_dir} on {', '.join(devices)}")
    env = {**os.environ, recovery.PROCESS_LEDGER_ENV: str(process_ledger)}
    code, stopped = _suite(cmd, lay.root, env, run_ledger)
    suite_s = time.monotonic() - started
    left = recovery.stop_recorded(process_ledger)
    if left:
        say(f"stopped what the suite left running: {', '.join(left)}")
    if stopped:
        say(f"{stopped}: finishing the run folder (redaction, report marked incomplete, manifest)")
    try:
        runfolder.point_latest(reports, run_dir)
    except OSError as e:
        say(f"reports/latest not repointed: {e}")
    key = args.signing_key or os.environ.get("TELLTALE_SIGNING_KEY")
    outcome = finish(lay, run_dir, redact=not args.no_redact, stopped=stopped, identifiers=identifiers,
                     name=f"Telltale compliance: {', '.join(devices)}", report=not args.no_report,
                     signing_key=Path(key) if key else None)
    if outcome.problems:  # the ledger stays: the next run tries to finish the folder again
        recovery.note(run_ledger, stopped=stopped, unfinished="; ".join(outcome.problems))
    else:
        recovery.end(run_ledger)
    counts = runfolder.statuses(run_dir / "allure-results")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no results"
    say(f"{summary} in {suite_s:.1f} s; results {run_dir / 'allure-results'}")
    if outcome.report:
        say(f"report {outcome.report}")
    if outcome.manifest:
        say(f"evidence manifest {outcome.manifest}{' (signed)' if key else ''}; "
            f"check it with `telltale verify {run_dir}`")
    for p in outcome.problems:
        print(f"telltale run: error: {p}", file=sys.stderr)
    return exit_code(code, stopped, bool(outcome.problems), counts.get("failed", 0))


def _finish_left(lay: paths.Layout, entry: recovery.RunLedger) -> bool:
    """Finish a run folder an earlier run left (killed, or its folder was not writable then)."""
    outcome = finish(lay, entry.path, redact=entry.redact, identifiers=entry.identifiers or {},
                     stopped=entry.stopped or "the run was killed before it finished")
    for p in outcome.problems:
        print(f"telltale run: error: {entry.path}: {p}", file=sys.stderr)
    return not outcome.problems


def exit_code(suite: int, stopped: str | None, problems: bool, failed: int | None = None) -> int:
    """0 passed, 1 a requirement failed (also when the folder could not be finished: the failure
    stands in the results); never 1 for anything but a failed requirement.

    An interrupted run exits 130 (SIGINT) or 143 (SIGTERM): no verdict. pytest's own codes
    other than 0 and 1 (interrupted 2, internal error 3, usage 4, no test 5) and a run folder
    that could not be finished are 2: "could not judge"; 5 keeps its code, so "no scenario ran"
    stays visible to a pipeline. pytest's 1 with no failed requirement in the results (only
    broken ones: the lab could not see) is 2 as well."""
    if stopped:
        return 143 if "SIGTERM" in stopped else 130
    if suite == 0 and problems:
        return 2
    if suite == 1 and failed == 0:  # only broken scenarios (or a crash in the suite): no finding
        return 2
    if suite in (0, 1, 5):
        return suite
    return 2


def _say(msg: str) -> None:
    print(f"telltale run: {msg}", flush=True)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The suite gets SIGTERM (and tears down) if `telltale run` is killed outright."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _suite(cmd: list[str], cwd: Path, env: dict[str, str], run_ledger: Path) -> tuple[int, str | None]:
    """Run the suite; SIGINT or SIGTERM to `telltale run` stops it cleanly.

    The suite runs in its own session, so a terminal's Ctrl-C reaches `telltale run` only: it
    asks the suite to stop (SIGINT: pytest stops the scenario, tears down every browser,
    capture and namespace), waits for that, and kills it after GRACE_S or a third signal.
    Returns (pytest's exit code, why the run was stopped or None)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True, preexec_fn=_die_with_parent)
    try:
        recovery.attach_suite(run_ledger, proc.pid)
    except OSError:
        pass
    state: dict = {"why": None, "at": 0.0, "count": 0}

    def on_signal(signum: int, _frame) -> None:
        state["count"] += 1
        if state["why"] is None:
            state["why"] = f"interrupted by {signal.Signals(signum).name}"
            state["at"] = time.monotonic()
            _say(f"{state['why']}: stopping the scenarios and tearing down (up to {GRACE_S:.0f} s; "
                 "signal again twice to kill at once)")
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT if state["count"] < 3 else signal.SIGKILL)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if state["why"] and time.monotonic() - state["at"] > GRACE_S:
                    _say(f"the suite did not stop within {GRACE_S:.0f} s: killed")
                    proc.kill()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return code, state["why"]


@dataclass(frozen=True)
class Finished:
    report: Path | None
    manifest: Path | None
    problems: tuple[str, ...]


def finish(lay: paths.Layout, run_dir: Path, *, redact: bool, stopped: str | None = None,
           identifiers: dict[str, str] | None = None, name: str | None = None, report: bool = True,
           signing_key: Path | None = None) -> Finished:
    """Make a run folder fit to leave the lab: redact, matrix, report, manifest, each step on its own.

    A step that fails (a reports folder that turned read-only, a damaged result) does not
    skip the others; it is named, and the run's ledger stays so that the next run tries again.
    An interrupted run's report and manifest say it is incomplete."""
    problems: list[str] = []

    def step(what: str, fn):
        try:
            return fn()
        except (OSError, TelltaleError, ValueError) as e:
            problems.append(f"{what}: {e}")
            return None

    if redact:
        step("redaction", lambda: _redact(run_dir, identifiers or {}))
    if stopped:
        step("incomplete mark", lambda: _mark_incomplete(run_dir, stopped))
    step("matrix", lambda: matrix.write(run_dir))
    html = None
    if report:
        title = (name or f"Telltale compliance: {run_dir.name}") + (" (INCOMPLETE)" if stopped else "")
        html = step("report", lambda: html_report.generate(lay, run_dir, name=title))
    written = None
    if redact and any(p.startswith("redaction") for p in problems):
        problems.append("manifest: not written over captures that could not be redacted")
    else:
        written = step("manifest", lambda: manifest.write_manifest(run_dir, lay.root, signing_key,
                                                                  incomplete=stopped))
    return Finished(html, written, tuple(problems))


def _redact(run_dir: Path, identifiers: dict[str, str]) -> None:
    """Credentials out of the captures; every canary the run's checks looked for (the sweep's
    ledgers keep them) and every device identifier stay, wherever they were sent."""
    from telltale.sweep import Expectation

    values = {}
    for ledger in sorted((run_dir / "sweep").glob("*-expectations.jsonl")):
        for line in ledger.read_text(encoding="utf-8").splitlines():
            if line.strip():
                e = Expectation.from_json(line)
                values.update({f"{e.window}.{k}": v for k, v in e.canaries.items()})
    keep = redaction.keeper(values, identifiers)
    for cap in sorted((run_dir / "captures").glob("*.mitm")):
        total, cut = redaction.capture_file(cap, keep)
        if cut:
            _say(f"{cap.name}: credentials redacted in {cut} of {total} flows")
    for rec in sorted((run_dir / "captures").glob("*.pcap")):
        cut = redaction.packet_record(rec, keep)
        if cut:
            _say(f"{rec.name}: {cut} clear-text credential value(s) blanked")


def _mark_incomplete(run_dir: Path, why: str) -> None:
    """The report's environment says the run is incomplete and why."""
    env = run_dir / "allure-results" / "environment.properties"
    text = env.read_text(encoding="utf-8") if env.exists() else ""
    if "incomplete=" not in text:
        env.write_text(text + ("" if not text or text.endswith("\n") else "\n")
                       + f"incomplete={why}: scenarios after that point did not run\n", encoding="utf-8")


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
