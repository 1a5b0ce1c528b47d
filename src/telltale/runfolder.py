"""Run folders: reports/<run-id>/ with results, captures and report; reports/latest -> newest."""

from __future__ import annotations

import os
import secrets
import time
from collections import Counter
from pathlib import Path

from telltale import names, results


def new_run_id(now: float | None = None) -> str:
    t = time.gmtime(now if now is not None else time.time())
    return time.strftime("%Y%m%dT%H%M%SZ", t) + "-" + secrets.token_hex(2)


def create(reports: Path, run_id: str | None = None) -> Path:
    run = names.inside(reports, names.check(run_id or new_run_id(), "run id"))
    (run / "allure-results").mkdir(parents=True, exist_ok=False)
    (run / "captures").mkdir()
    return run


def point_latest(reports: Path, run: Path) -> None:
    """Atomically repoint reports/latest at `run` (a relative symlink)."""
    link = reports / "latest"
    tmp = reports / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run.name)
    os.replace(tmp, link)


def statuses(folder: Path) -> Counter:
    """Count Allure test results by status (passed, failed, broken, skipped, unknown, unreadable)."""
    unreadable: list[results.UnreadableResult] = []
    counts = Counter(r.status for r in results.read_results(folder, unreadable))
    if unreadable:
        counts["unreadable"] += len(unreadable)
    return counts
