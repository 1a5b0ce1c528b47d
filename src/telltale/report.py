"""The single-file HTML report of a run, made by Allure 3 from the project's node_modules.

Allure's template embeds Google Analytics; a privacy report must not phone home
when a regulator opens it, so the snippet is cut out after generation and the
result is checked for any remaining reference to it.
"""

from __future__ import annotations

import argparse

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from telltale.errors import SetupError, TelltaleError
from telltale.paths import Layout

CONFIG = Path(__file__).with_name("allurerc.mjs")
_ANALYTICS = [
    re.compile(r"<script[^>]*googletagmanager\.com[^>]*>\s*</script>", re.I),
    re.compile(r"<script>\s*window\.dataLayer.*?</script>", re.I | re.S),
]
PHONE_HOME = ("googletagmanager", "google-analytics", "gtag(")


def strip_analytics(html: str) -> str:
    for pat in _ANALYTICS:
        html = pat.sub("", html)
    left = [m for m in PHONE_HOME if m in html]
    if left:
        raise TelltaleError(f"report still references {', '.join(left)} after stripping analytics")
    return html


def history_file(lay: Layout, run_dir: Path) -> Path:
    """Allure's history across runs: in the checkout's state for the project's reports/ (it
    survives clearing reports/), beside the run folders for any other reports folder."""
    reports = run_dir.resolve().parent
    if reports == lay.reports.resolve():
        return lay.state / "history.jsonl"
    return reports / ".allure-history.jsonl"


def generate(lay: Layout, run_dir: Path, name: str | None = None) -> Path:
    """Write run_dir/report.html from run_dir/allure-results; returns its path."""
    results = run_dir / "allure-results"
    if not results.is_dir():
        raise TelltaleError(f"{results}: no Allure results to report on")
    exe = lay.node_bin / "allure"
    if not exe.exists():
        raise SetupError(f"{exe} is missing: run `telltale setup` (it runs npm ci)")
    with tempfile.TemporaryDirectory(prefix="allure-", dir=run_dir) as out:
        env = {**os.environ, "TELLTALE_REPORT_OUT": out, "ALLURE_NO_ANALYTICS": "true"}
        if name:
            env["TELLTALE_REPORT_NAME"] = name
        env["TELLTALE_HISTORY"] = str(history_file(lay, run_dir))
        r = subprocess.run([str(exe), "generate", "--config", str(CONFIG), str(results)],
                           capture_output=True, text=True, env=env, cwd=run_dir)
        page = Path(out) / "index.html"
        if r.returncode != 0 or not page.exists():
            raise TelltaleError(
                f"allure generate failed (exit {r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        target = run_dir / "report.html"
        target.write_text(strip_analytics(page.read_text(encoding="utf-8")), encoding="utf-8")
        for extra in Path(out).iterdir():  # e.g. summary.json, kept beside the report
            if extra.name != "index.html" and extra.is_file():
                shutil.copy2(extra, run_dir / f"report-{extra.name}")
    return target


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from telltale import paths
    from telltale.errors import TelltaleError

    lay = paths.layout()
    run_dir = Path(args.run_dir) if args.run_dir else lay.reports / "latest"
    if not run_dir.exists():
        raise TelltaleError(f"{run_dir}: no such run folder (run `tox -e compliance` first)")
    from telltale import results

    if not results.result_files(run_dir / "allure-results"):
        raise TelltaleError(f"{run_dir / 'allure-results'}: no result to report on (a report of nothing "
                            "would read as a clean run)")
    print(f"telltale report: {generate(lay, run_dir.resolve())}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="make the single-file HTML report of a run again")
    p.add_argument("run_dir", nargs="?", help="run folder (default reports/latest)")
    p.set_defaults(func=_report)
