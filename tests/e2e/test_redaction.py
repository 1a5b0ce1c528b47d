"""Redaction: a planted Authorization header, session token and form password are in no artefact
of the run (attachments, HAR, captures, report), while the leak evidence stays; --no-redact keeps them."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from telltale.selftest import findings_of

from .helpers import ROOT, all_results

pytestmark = pytest.mark.e2e
SECRET = "s3cr3t-T0KEN-for-redaction-test"


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    forms = [raw]
    for shift in range(3):  # base64 in every alignment, as report embeddings would carry it
        forms.append(base64.b64encode(b"\0" * shift + raw)[4:-4])
    return forms


def _files_with(run: Path, secret: str) -> list[str]:
    hits = []
    for p in run.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            if any(f in data for f in _forms(secret)):
                hits.append(str(p.relative_to(run)))
    return hits


def _run(tmp_path: Path, *extra: str) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(tmp_path), "--run-id", "r",
         "--suite", "tests/e2e/suites/redaction_suite.py", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TELLTALE_TEST_SECRET": SECRET})
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]  # the leak fails it
    return tmp_path / "r"


def test_no_artefact_carries_the_planted_credentials(ready, tmp_path):
    run = _run(tmp_path)
    assert _files_with(run, SECRET) == []
    (result,) = all_results(run)
    assert result.status == "failed"
    assert "collect.example.org" in result.message
    assert _files_with(run, "collect.example.org"), "the leak evidence itself is kept"
    assert "[REDACTED]" in "".join(p.read_text(errors="replace")
                                   for p in (run / "allure-results").glob("*.har"))


def test_no_redact_keeps_them_for_internal_runs(ready, tmp_path):
    run = _run(tmp_path, "--no-redact")
    hits = _files_with(run, SECRET)
    assert any(h.startswith("captures/") for h in hits) and any(h.endswith(".har") for h in hits)


def test_a_scan_of_the_redacted_capture_finds_what_the_run_found(ready, tmp_path):
    """Redaction never destroys evidence: the run's findings, re-found by `telltale scan` in the
    bundled (redacted) capture with the canaries the run recorded, flow for flow."""
    run = _run(tmp_path)
    (result,) = all_results(run)
    rows = findings_of(result)
    assert any("access_token" in r["location"] for r in rows), rows  # the canary in a credential field
    canaries = {}
    for ledger in (run / "sweep").glob("*-expectations.jsonl"):
        for line in ledger.read_text().splitlines():
            canaries.update(json.loads(line)["canaries"])
    scan = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "scan", *map(str, sorted((run / "captures").glob("*.mitm"))),
         *(f"--canary={k}={v}" for k, v in canaries.items()), "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert scan.returncode == 1, scan.stdout[-2000:] + scan.stderr[-2000:]
    found = {(f["flow"], f["canary"], f["location"], tuple(f["chain"]))
             for f in json.loads(scan.stdout)["findings"]}
    wanted = {(r["flow"], r["canary"], r["location"], tuple(r["chain"])) for r in rows}
    assert wanted <= found, wanted - found
    assert _files_with(run, SECRET) == []
