"""`telltale scan` on captures it can read only in part, or not at all: exit 2 and each named.

What could not be read is never "nothing found" (0) nor only "findings" (1): the exit code
says the verdict could not be established, and the findings of the rest are still printed.
"""

from __future__ import annotations

import json

import pytest

from tests.detect.cli_inputs import CANARY, DAMAGED, FLOWS, telltale, twins
from tests.detect.plant import http_flow, write_har

MODES = {"canary": ["--canary", f"token={CANARY}"], "policy": ["--policy", "policy.yaml"]}


def _found(doc: dict, mode: str) -> int:
    return len(doc["findings"] if mode == "canary" else doc["destinations"])


@pytest.mark.parametrize("mode", MODES)
def test_a_flipped_length_digit_is_named_and_exits_2(tmp_path, mode):
    good, damaged = twins(tmp_path)
    args = [a.replace("policy.yaml", str(tmp_path / "policy.yaml")) for a in MODES[mode]]
    intact = telltale("scan", str(good), *args, "--format", "json")
    assert intact.returncode == 1, intact.stderr
    doc = json.loads(intact.stdout)
    assert doc["errors"] == [] and _found(doc, mode) >= FLOWS

    proc = telltale("scan", str(damaged), *args, "--format", "json")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert any(e.startswith(f"{damaged}: record {DAMAGED}:") for e in doc["errors"]), doc["errors"]
    assert 0 < _found(doc, mode) < _found(json.loads(intact.stdout), mode), "the intact records still judged"


def test_the_text_output_says_the_scan_could_not_judge(tmp_path):
    _, damaged = twins(tmp_path)
    proc = telltale("scan", str(damaged), "--policy", str(tmp_path / "policy.yaml"))
    assert proc.returncode == 2
    assert f"error: {damaged}: record {DAMAGED}:" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("scan: could not judge:")


@pytest.mark.parametrize("mode", MODES)
def test_every_capture_that_could_not_be_read_is_named_beside_the_findings_of_the_rest(tmp_path, mode):
    good, _ = twins(tmp_path)
    bad = {"empty.mitm": b"", "garbage.mitm": bytes(range(256)) * 4, "broken.har": b'{"log": {"entr',
           "not-har.har": b'{"a": 1}', "no-entries.har": b'{"log": {"entries": []}}'}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    malformed = write_har(tmp_path / "malformed.har", [http_flow(path=f"/q?t={CANARY}")])
    doc = json.loads(malformed.read_text())
    doc["log"]["entries"].insert(0, {"request": {}})
    malformed.write_text(json.dumps(doc))
    paths = [str(tmp_path / n) for n in (*bad, "missing.mitm")] + [str(malformed), str(good)]
    args = [a.replace("policy.yaml", str(tmp_path / "policy.yaml")) for a in MODES[mode]]
    proc = telltale("scan", *paths, *args, "--format", "json")
    assert proc.returncode == 2, proc.stderr
    out = json.loads(proc.stdout)
    for p in paths[:-2]:
        assert any(e.startswith(f"{p}: ") for e in out["errors"]), (p, out["errors"])
    assert any(e.startswith(f"{malformed}: entry 0: ") for e in out["errors"]), out["errors"]
    assert not any(e.startswith(f"{good}: ") for e in out["errors"])
    assert _found(out, mode) >= FLOWS, "the readable captures are still scanned"
