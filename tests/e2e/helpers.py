"""Running the suite as a user would: a child pytest (or `telltale run`) and its Allure results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_suite(module: Path, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    results = run_dir / "allure-results"
    results.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", str(module), "-p", "no:cacheprovider", "-q",
           f"--rootdir={ROOT}", f"--alluredir={results}", f"--telltale-run-dir={run_dir}", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def results(run_dir: Path) -> dict[str, dict]:
    """Allure results by scenario name."""
    out = {}
    for f in (run_dir / "allure-results").glob("*-result.json"):
        r = json.loads(f.read_text())
        assert r["name"] not in out, f"two results for {r['name']}"
        out[r["name"]] = r
    return out


def labels(result: dict, name: str) -> list[str]:
    return [lab["value"] for lab in result.get("labels", []) if lab["name"] == name]
