"""`telltale scan`: exit codes 0/1/2, the JSON shape, the text table."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

from plant import http_flow, write_flows, write_har

from telltale.cli import main

TOKEN = "Zq7Xw2Pk9Lm4Rt8v"
IMEI = "358240051111110"


def _capture(tmp_path, leak: bool):
    flows = [http_flow(path="/ok")]
    if leak:
        flows.append(http_flow(body=json.dumps({"d": base64.b64encode(TOKEN.encode()).decode(),
                                                "h": hashlib.sha256(IMEI.encode()).hexdigest()}).encode()))
    return write_flows(tmp_path / ("leak.mitm" if leak else "clean.mitm"), flows), flows


def test_exit_0_when_nothing_is_found(tmp_path, capsys):
    path, _ = _capture(tmp_path, leak=False)
    assert main(["scan", str(path), "--canary", f"token={TOKEN}"]) == 0
    assert "0 finding(s) in 1 flow(s)" in capsys.readouterr().out


def test_exit_1_and_json_shape_when_found(tmp_path, capsys):
    path, flows = _capture(tmp_path, leak=True)
    code = main(["scan", str(path), "--canary", f"token={TOKEN}", "--identifier", f"imei={IMEI}",
                 "--format", "json"])
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    got = {(f["flow"], f["canary"], f["host"], f["location"], tuple(f["chain"])) for f in doc["findings"]}
    assert got == {(flows[1].id, "token", "tracker.example.com", "request.body json $.d > base64",
                    ("json", "base64")),
                   (flows[1].id, "imei", "tracker.example.com", "request.body json $.h", ("json", "sha256"))}
    assert all(set(f) >= {"flow", "canary", "host", "location", "chain"} for f in doc["findings"])


def test_exit_2_on_an_unreadable_file_but_findings_still_reported(tmp_path, capsys):
    path, _ = _capture(tmp_path, leak=True)
    har = write_har(tmp_path / "w.har", [http_flow(path=f"/q?t={TOKEN}")])
    code = main(["scan", str(tmp_path / "missing.mitm"), str(path), str(har),
                 "--canary", f"token={TOKEN}", "--format", "json"])
    assert code == 2
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["errors"]) == 1 and "missing.mitm" in doc["errors"][0]
    assert {f["flow"] for f in doc["findings"]} >= {0}
    assert len(doc["findings"]) == 2


def test_text_table_names_flow_canary_location_and_chain(tmp_path, capsys):
    path, flows = _capture(tmp_path, leak=True)
    assert main(["scan", str(path), "--canary", f"token={TOKEN}"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["FLOW", "CANARY", "HOST", "LOCATION", "CHAIN"]
    assert flows[1].id[:8] in out[1] and "token" in out[1] and "json > base64" in out[1]


def test_bad_canary_is_a_usage_error(tmp_path, capsys):
    path, _ = _capture(tmp_path, leak=False)
    try:
        main(["scan", str(path), "--canary", "x=ab"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("accepted a 2-byte canary")
    assert "shorter than 4 bytes" in capsys.readouterr().err


def test_a_canary_with_a_nul_byte_is_refused_not_matched_by_its_prefix():
    """Hyperscan's literals end at NUL: "ab\\0cd" would be found wherever "ab" is."""
    import pytest

    from telltale.detect.model import Canary, CanaryError

    with pytest.raises(CanaryError, match="NUL"):
        Canary("x", "abcd\0efgh")


def test_console_entry_point_runs(tmp_path):
    path, _ = _capture(tmp_path, leak=True)
    proc = subprocess.run([sys.executable, "-m", "telltale.cli", "scan", str(path), "--canary",
                           f"token={TOKEN}", "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["findings"][0]["canary"] == "token"
