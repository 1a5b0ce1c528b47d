"""`telltale destinations` on a capture it can read only in part, or not at all: exit 2.

A part that could not be read is named after the table of what could; a capture that
cannot be read at all is one line on stderr. Never exit 0 for a table of part of a capture.
"""

from __future__ import annotations

import json

from tests.detect.cli_inputs import DAMAGED, FLOWS, telltale, twins
from tests.detect.plant import http_flow, write_har


def _hosts(proc) -> set[str]:
    return {r["host"] for r in json.loads(proc.stdout)["destinations"]}


def test_a_flipped_length_digit_is_named_after_the_table_of_the_rest(tmp_path):
    good, damaged = twins(tmp_path)
    intact = telltale("destinations", str(good), "--format", "json")
    assert intact.returncode == 0, intact.stderr
    assert len(_hosts(intact)) == FLOWS and json.loads(intact.stdout)["errors"] == []

    proc = telltale("destinations", str(damaged))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["host", "domain"]
    assert any(ln.startswith("t0.tracker.example.com") for ln in lines), "the intact records are tabled"
    assert f"error: {damaged}: record {DAMAGED}:" in proc.stdout
    assert lines[-1].startswith("destinations: could not judge:")


def test_json_lists_what_could_not_be_read(tmp_path):
    _, damaged = twins(tmp_path)
    proc = telltale("destinations", str(damaged), "--format", "json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert any(e.startswith(f"{damaged}: record {DAMAGED}:") for e in doc["errors"]), doc["errors"]
    assert 0 < len(doc["destinations"]) < FLOWS


def test_an_empty_capture_is_not_a_clean_one(tmp_path):
    for name, data in (("empty.mitm", b""), ("empty.har", b'{"log": {"entries": []}}')):
        cap = tmp_path / name
        cap.write_bytes(data)
        proc = telltale("destinations", str(cap), "--format", "json")
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert json.loads(proc.stdout)["errors"] == [
            f"{cap}: whole file: no flows in it: an empty capture is not a clean one"]


def test_a_capture_that_cannot_be_read_at_all_is_one_line(tmp_path):
    files = {"garbage.mitm": bytes(range(256)) * 4, "broken.har": b'{"log": {"entr',
             "not-har.har": b'{"log": [1, 2]}', "deep.har": b'{"a":' * 100_000 + b"1" + b"}" * 100_000}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder.mitm").mkdir()
    for name in (*files, "folder.mitm", "missing.mitm"):
        proc = telltale("destinations", str(tmp_path / name))
        assert proc.returncode == 2, (name, proc.stderr)
        assert proc.stderr.startswith(f"telltale: error: {tmp_path / name}: "), (name, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1, (name, proc.stderr)


def test_a_malformed_har_entry_is_named_and_the_others_tabled(tmp_path):
    har = write_har(tmp_path / "w.har", [http_flow(host="kept.example.org")])
    doc = json.loads(har.read_text())
    doc["log"]["entries"].insert(0, {"request": {"url": "https://lost.example.org/"}})
    har.write_text(json.dumps(doc))
    proc = telltale("destinations", str(har), "--format", "json")
    assert proc.returncode == 2, proc.stderr
    assert _hosts(proc) == {"kept.example.org"}
    errors = json.loads(proc.stdout)["errors"]
    assert len(errors) == 1 and errors[0].startswith(f"{har}: entry 0: malformed HAR entry"), errors


def test_a_damaged_events_file_is_named_and_the_flows_still_tabled(tmp_path):
    good, _ = twins(tmp_path)
    cap = good.rename(tmp_path / "phone-1.mitm")
    events = tmp_path / "phone-events.jsonl"
    events.write_text('{"event": "tls_failed_client", "sni": "pinned.example.org"}\n{"event": \n')
    proc = telltale("destinations", str(cap), "--format", "json")
    assert proc.returncode == 2, proc.stderr
    assert len(_hosts(proc)) == FLOWS
    assert json.loads(proc.stdout)["errors"] == [f"{events}: line 2: not JSON: Expecting value"]
