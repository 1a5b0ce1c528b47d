"""What a run leaves if it is cut short, written down so that it can be undone.

A run's suite starts Appium servers, mitmdump, tcpdump, chromedriver and Chromium and the
firmware processes. If the suite or `telltale run` itself is killed, they would go on
running, and the captures would stay unredacted with no manifest. So:

- every process the suite spawns is written to the run's process ledger (pid and kernel
  start time, so a reused pid is never signalled);
- `telltale run` keeps a ledger of the run itself until the run folder is finished
  (redacted, manifest written);
- the next `telltale run` finds ledgers whose runner is gone, stops their processes and
  finishes their run folders, marked incomplete, and says so.

Ledgers live in the checkout's git-ignored state (``.telltale/runs/``), outside the run
folder: they are bookkeeping, not evidence.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

PROCESS_LEDGER_ENV = "TELLTALE_PROCESS_LEDGER"


def _stat(pid: int | str) -> list[str] | None:
    """/proc/PID/stat from its third field on (state, ppid, pgrp, ...), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields count from its end.
    return stat.rpartition(")")[2].split()


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None if it is gone."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def alive(pid: int, started: int | None) -> bool:
    return started is not None and start_time(pid) == started


def record_process(pid: int, argv: list[str]) -> None:
    """Append a spawned process (a group leader) to the ledger this process was given, if any."""
    ledger = os.environ.get(PROCESS_LEDGER_ENV)
    if not ledger:
        return
    # Program names only (wrappers such as `ip netns exec` or setpriv included): never arguments,
    # which may hold what the harness passed on.
    cmd = " ".join(os.path.basename(a) for a in argv[:8] if not a.startswith("-"))[:200]
    line = json.dumps({"pid": pid, "start": start_time(pid), "cmd": cmd})
    try:
        with open(ledger, "a", encoding="utf-8") as fo:
            fo.write(line + "\n")
    except OSError:
        pass  # bookkeeping only: the suite stops its own processes in any case


def _entries(ledger: Path) -> list[dict]:
    try:
        lines = ledger.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a kill mid-write
    return out


def _group_exists(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies (dead, waiting for a parent to reap
    them: Chromium's, reparented to an init that reaps late) answer a signal but run nothing."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return True  # no /proc to tell: it answers, so it counts
    members = (f for f in map(_stat, pids) if f and int(f[2]) == pgid)
    return any(f[0] != "Z" for f in members)


def stop_recorded(ledger: Path, grace: float = 5.0) -> list[str]:
    """Stop every process group in `ledger` still running; returns what was stopped.

    A leader whose pid now belongs to another process (a different start time) is left
    alone; a group whose leader is gone is still signalled (its members are our orphans:
    no new process can lead a group with that id while they exist)."""
    targets = []
    for e in _entries(ledger):
        pid, started = int(e["pid"]), e.get("start")
        now = start_time(pid)
        if now is not None and now != started:
            continue  # the pid was reused
        if now is None and not _group_exists(pid):
            continue
        targets.append((pid, e.get("cmd", "?")))
    for pid, _ in targets:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_exists(pid) for pid, _ in targets):
        time.sleep(0.1)
    for pid, _ in targets:
        _kill(pid, signal.SIGKILL)
    return [f"{cmd} (pid {pid})" for pid, cmd in targets]


def _kill(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass(frozen=True)
class RunLedger:
    """A run that has not been finished yet, and who is running it."""

    run_dir: str
    runner_pid: int
    runner_start: int | None
    redact: bool
    started: str
    suite_pid: int | None = None
    suite_start: int | None = None
    stopped: str | None = None  # why the run stopped early, when it did
    identifiers: dict | None = None  # the devices' identifiers: evidence that redaction keeps
    unfinished: str | None = None  # what its own finishing could not do

    @property
    def path(self) -> Path:
        return Path(self.run_dir)


def ledger_dir(state: Path) -> Path:
    return state / "runs"


def _key(run_dir: Path) -> str:
    import hashlib

    return f"{run_dir.name}-{hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]}"


def begin(state: Path, run_dir: Path, redact: bool,
          identifiers: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Write the run's ledger; returns (run ledger, process ledger) paths."""
    folder = ledger_dir(state)
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(run_dir)
    entry = RunLedger(str(run_dir.resolve()), os.getpid(), start_time(os.getpid()), redact,
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), identifiers=identifiers)
    run_ledger = folder / f"{key}.json"
    run_ledger.write_text(json.dumps(asdict(entry), indent=1), encoding="utf-8")
    procs = folder / f"{key}.processes.jsonl"
    procs.touch()
    return run_ledger, procs


def note(run_ledger: Path, **fields: object) -> None:
    """Add to a run's ledger: the suite's process (a run is not abandoned while it still tears
    down), why it stopped, what its finishing could not do."""
    entry = json.loads(run_ledger.read_text(encoding="utf-8"))
    entry.update(fields)
    run_ledger.write_text(json.dumps(entry, indent=1), encoding="utf-8")


def attach_suite(run_ledger: Path, pid: int) -> None:
    note(run_ledger, suite_pid=pid, suite_start=start_time(pid))


def end(run_ledger: Path) -> None:
    """The run folder is finished: its ledgers go."""
    run_ledger.unlink(missing_ok=True)
    Path(str(run_ledger).removesuffix(".json") + ".processes.jsonl").unlink(missing_ok=True)


def abandoned(state: Path) -> list[tuple[Path, RunLedger]]:
    """Ledgers of runs whose `telltale run` is gone (killed, or it could not finish its folder):
    theirs to finish, ours now."""
    out = []
    for f in sorted(ledger_dir(state).glob("*.json")):
        try:
            entry = RunLedger(**json.loads(f.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            f.unlink(missing_ok=True)  # a ledger cut by a kill mid-write: nothing to act on
            continue
        suite_alive = entry.suite_pid is not None and alive(entry.suite_pid, entry.suite_start)
        if not alive(entry.runner_pid, entry.runner_start) and not suite_alive:
            out.append((f, entry))
    return out


def processes_of(run_ledger: Path) -> Path:
    return Path(str(run_ledger).removesuffix(".json") + ".processes.jsonl")


def recover(state: Path, finish: Callable[[RunLedger], bool], say: Callable[[str], None]) -> int:
    """Stop what killed runs left running and finish their run folders (`finish` says whether it
    could); returns how many were finished."""
    done = 0
    for f, entry in abandoned(state):
        stopped = stop_recorded(processes_of(f))
        if stopped:
            say(f"an earlier run ({entry.path.name}) left processes running; stopped: {', '.join(stopped)}")
        if entry.path.is_dir():
            why = entry.unfinished or "the run was killed before it finished"
            if not finish(entry):
                say(f"{entry.path}: still cannot finish the run folder an earlier run left; tried again "
                    "next time")
                continue
            say(f"{entry.path}: finished the run folder an earlier `telltale run` left unfinished "
                f"({why}): redacted, manifest marked incomplete")
        end(f)
        done += 1
    return done
