"""Child processes that never outlive the run: start in their own group, stop by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from telltale import recovery
from telltale.errors import SetupError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start `cmd` in a new process group, its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )
    recovery.record_process(proc.pid, cmd)  # a killed run's leftovers can be stopped later
    return proc


def stop(proc: subprocess.Popen, grace: float = 5.0) -> int | None:
    """SIGTERM the process group, SIGKILL after `grace` seconds; returns the exit code."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(grace)
    # Children the process left behind in its group (e.g. chromedriver, chromium).
    _signal_group(proc.pid, signal.SIGKILL)
    return proc.returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(check: Callable[[], bool], timeout: float, proc: subprocess.Popen | None = None,
               interval: float = 0.05) -> bool:
    """Poll `check` until true; give up at `timeout` or when `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(interval)
    return False


def ready_or_fail(proc: subprocess.Popen, check: Callable[[], bool], timeout: float, log: Path,
                  what: str, stop: Callable[[], None], interval: float = 0.05) -> None:
    """Wait until a started service answers `check`; if it exits or the time runs out, stop it and
    say what did not start, its exit code and the end of its log."""
    if not wait_until(check, timeout, proc, interval):
        code = proc.poll()
        stop()
        raise SetupError(f"{what} (exit {code}); log {log}:\n{tail(log)}")


def tail(path: Path, lines: int = 15) -> str:
    """The end of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
