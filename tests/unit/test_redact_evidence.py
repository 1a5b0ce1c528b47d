"""Redaction must never destroy evidence: it cuts credentials (by exact name) and only their bytes,
keeps what carries a canary or an identifier, and keeps damaged records, so a scan of the
redacted capture finds what a scan of the capture found."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from urllib.parse import quote

import zstandard

from telltale import redact
from telltale.capture import store
from telltale.detect.model import Canary
from telltale.detect.scan import scan_files
from tests.detect.plant import http_flow, write_flows
from tests.e2e.helpers import ROOT

SERIAL = "R58N91QXZ7K"
AUTH_SECRET = "lab-Sess10n-AUTH-4f9e2b"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
AS_SENT = b"author=Jane%20Doe&q=a%20b"
BOUNDARY = "XyZb0undary"


def _multipart(*parts: tuple[str, bytes]) -> bytes:
    out = b"".join(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n".encode()
                   + body + b"\r\n" for name, body in parts)
    return out + f"--{BOUNDARY}--\r\n".encode()


MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def _planted() -> list:
    """The device's serial in fields named like credentials that are not, beside real credentials."""
    doc = {"device_token": SERIAL, "password": "hunter2-pw", "nested": {"access_token": "tok-XYZ"}}
    return [
        http_flow(path=f"/collect?device_token={SERIAL}&{AS_SENT.decode()}",
                  headers={"Authorization": f"Bearer {AUTH_SECRET}"}),
        http_flow(path="/form", body=f"device_token={SERIAL}&password=hunter2-pw&".encode() + AS_SENT,
                  headers=FORM),
        http_flow(path="/json", body=json.dumps(doc).encode(), headers=JSON),
        http_flow(path="/upload", headers=MULTIPART,
                  body=_multipart(("password", b"hunter2-pw"), ("device_id", SERIAL.encode()))),
    ]


def _cli_scan(path, *canaries: str) -> tuple[int, set[tuple]]:
    """`telltale scan` as a person runs it: exit code and (flow, canary, location, chain) of each finding."""
    proc = subprocess.run([sys.executable, "-m", "telltale.cli", "scan", str(path), *canaries,
                           "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    doc = json.loads(proc.stdout)
    assert doc["errors"] == [], doc["errors"]
    return proc.returncode, {(f["flow"], f["canary"], f["location"], tuple(f["chain"]))
                             for f in doc["findings"]}


def test_the_redacted_capture_proves_every_leak_the_capture_proved(tmp_path):
    flows = _planted()
    path = write_flows(tmp_path / "dev.mitm", flows)
    original = shutil.copy(path, tmp_path / "dev-unredacted.mitm")
    total_cut = redact.capture_file(path)

    ident = ("--identifier", f"serial={SERIAL}")
    before_code, before = _cli_scan(original, *ident)
    after_code, after = _cli_scan(path, *ident)
    assert before_code == after_code == 1
    assert after == before
    assert {f[0] for f in after} == {f.id for f in flows}  # the serial is found in each of the four
    assert total_cut == (4, 4)

    data = path.read_bytes()
    for secret in (b"hunter2-pw", b"tok-XYZ", AUTH_SECRET.encode()):
        assert secret not in data
    assert data.count(AS_SENT) == 2  # the query and the form, byte for byte
    query, form, doc, upload = [r.flow for r in store.read_records(path)]
    assert query.request.path == f"/collect?device_token={SERIAL}&{AS_SENT.decode()}"
    assert query.request.headers["authorization"] == "[REDACTED]"
    assert form.request.raw_content == f"device_token={SERIAL}&password=[REDACTED]&".encode() + AS_SENT
    assert json.loads(doc.request.raw_content) == {
        "device_token": SERIAL, "password": "[REDACTED]", "nested": {"access_token": "[REDACTED]"}}
    assert upload.request.raw_content == _multipart(("password", b"[REDACTED]"),
                                                    ("device_id", SERIAL.encode()))


def test_a_canary_sent_as_a_password_is_kept_and_its_clean_twin_is_cut(tmp_path):
    canary = Canary("url", "tt-canary-5d1e7a.example.net")
    b64 = base64.b64encode(canary.value.encode()).decode()
    leak = http_flow(path="/login", body=f"user=a&password={quote(canary.value)}".encode(), headers=FORM)
    leak_b64 = http_flow(path="/login", body=json.dumps({"password": b64}).encode(), headers=JSON)
    twin = http_flow(path="/login", body=b"user=a&password=real-Secret-99", headers=FORM)
    path = write_flows(tmp_path / "dev.mitm", [leak, leak_b64, twin])
    original = shutil.copy(path, tmp_path / "dev-unredacted.mitm")

    assert redact.capture_file(path, keep=redact.evidence_keeper([canary])) == (3, 1)
    data = path.read_bytes()
    assert b"real-Secret-99" not in data
    assert canary.value.encode() in data and b64.encode() in data
    code, after = _cli_scan(path, "--canary", f"url={canary.value}")
    assert code == 1 and after == _cli_scan(original, "--canary", f"url={canary.value}")[1]
    assert {f[0] for f in after} == {leak.id, leak_b64.id}


def test_only_exact_credential_names_are_cut():
    f = http_flow(path="/c?device_token=D1&author=Jane&inside=x&sid=s1&passwordless=1&push_token=p1"
                       "&Password=pw&user%5Bpassword%5D=pw2&api-key=k1&token=t1")
    red, changed = redact.flow(f)
    assert changed
    assert red.request.path == ("/c?device_token=D1&author=Jane&inside=x&sid=s1&passwordless=1&push_token=p1"
                                "&Password=[REDACTED]&user%5Bpassword%5D=[REDACTED]&api-key=[REDACTED]"
                                "&token=[REDACTED]")
    assert f.request.path.endswith("&token=t1")  # the original is not touched
    assert not redact.flow(http_flow(path="/c?device_token=D1&author=Jane"))[1]


def test_values_left_are_not_encoded_again():
    path = "/c?q=a%20b&x=%7E~&e=&password=p%20w&z=1+2"
    red, _ = redact.flow(http_flow(path=path))
    assert red.request.path == "/c?q=a%20b&x=%7E~&e=&password=[REDACTED]&z=1+2"
    body = b"q=a%20b&e&password=x+y&z=%C3%A9"
    red, _ = redact.flow(http_flow(body=body, headers=FORM))
    assert red.request.raw_content == b"q=a%20b&e&password=[REDACTED]&z=%C3%A9"


def test_json_credentials_are_cut_in_the_raw_text_at_any_depth():
    raw = (b'{ "device_token" : "D1",\n  "Password":"p\\u00e9",  "n": [{"access_token": "t", "pin": 1234}],'
           b' "api_key": 12345, "secret": {"a": ["x", 2.5e3, null, true]}, "empty_token": "", "token": ""}')
    red, changed = redact.flow(http_flow(body=raw, headers=JSON))
    assert changed
    assert red.request.raw_content == (
        b'{ "device_token" : "D1",\n  "Password":"[REDACTED]",  "n": [{"access_token": "[REDACTED]",'
        b' "pin": 1234}], "api_key": "[REDACTED]", "secret": {"a": ["[REDACTED]", "[REDACTED]", null, true]},'
        b' "empty_token": "", "token": ""}')


def test_json_lines_and_undeclared_json_are_redacted_invalid_json_is_left_as_sent():
    lines = b'{"password": "a1"}\n{"password": "b2"}\n'
    red, _ = redact.flow(http_flow(body=lines, headers={"content-type": "text/plain"}))
    assert red.request.raw_content == b'{"password": "[REDACTED]"}\n{"password": "[REDACTED]"}\n'
    for broken in (b'{"password": "a1", ', b'{"password": "a1"', b'{"password" "a1"}'):
        red, changed = redact.flow(http_flow(body=broken, headers=JSON))
        assert not changed and red.request.raw_content == broken


def test_multipart_credential_parts_are_cut_and_json_parts_redacted_inside():
    body = _multipart(("password", b"hunter2-pw"), ("device_id", SERIAL.encode()),
                      ("file", b'{"token": "t0k", "id": "x"}'))
    red, changed = redact.flow(http_flow(body=body, headers=MULTIPART))
    assert changed
    assert red.request.raw_content == _multipart(("password", b"[REDACTED]"), ("device_id", SERIAL.encode()),
                                                 ("file", b'{"token": "[REDACTED]", "id": "x"}'))


def test_compressed_bodies_are_redacted_and_encoded_again_a_bomb_is_left_as_sent():
    doc = json.dumps({"password": "hunter2-pw", "device_token": SERIAL}).encode()
    want = json.dumps({"password": "[REDACTED]", "device_token": SERIAL}).encode()
    red, _ = redact.flow(http_flow(body=gzip.compress(doc), headers={**JSON, "content-encoding": "gzip"}))
    assert gzip.decompress(red.request.raw_content) == want
    zstd = zstandard.ZstdCompressor().compress(doc)
    red, _ = redact.flow(http_flow(body=zstd, headers={**JSON, "x-telltale-content-encoding": "zstd"}))
    assert zstandard.ZstdDecompressor().decompress(red.request.raw_content, max_output_size=1 << 20) == want
    untouched = gzip.compress(doc)
    red, changed = redact.flow(http_flow(body=untouched, headers=JSON | {"content-encoding": "gzip, br"}))
    assert not changed and red.request.raw_content == untouched  # br of a gzip stream: damaged, left
    bomb = gzip.compress(b'{"password": "x", "pad": "' + b"0" * (redact.MAX_DECODED + 1) + b'"}')
    red, changed = redact.flow(http_flow(body=bomb, headers={**JSON, "content-encoding": "gzip"}))
    assert not changed and red.request.raw_content == bomb


def test_headers_keep_names_and_evidence_and_cut_credentials():
    canary = Canary("serial", SERIAL, "identifier")
    hashed = hashlib.sha256(SERIAL.encode()).hexdigest()
    f = http_flow(headers={"Authorization": f"Bearer {hashed}", "Cookie": f"sess=abc123; uid={SERIAL}",
                           "X-Trace": "id=1, bearer zz9-SECRET-zz"},
                  response=b"", resp_headers={"Set-Cookie": "sess=new-Secret-1; Path=/; HttpOnly"})
    red, _ = redact.flow(f)
    h = red.request.headers
    assert (h["authorization"], h["cookie"], h["x-trace"]) == (
        "[REDACTED]", "sess=[REDACTED]; uid=[REDACTED]", "id=1, bearer [REDACTED]")
    assert red.response.headers["set-cookie"] == "sess=[REDACTED]; Path=/; HttpOnly"
    kept, _ = redact.flow(f, keep=redact.evidence_keeper([canary]))
    assert kept.request.headers["authorization"] == f"Bearer {hashed}"  # a hash of the serial: evidence
    assert kept.request.headers["cookie"] == f"sess=[REDACTED]; uid={SERIAL}"


def test_evidence_keeper_answers_with_the_detector():
    keep = redact.evidence_keeper([Canary("serial", SERIAL, "identifier")])
    assert keep(SERIAL.encode()) and keep(base64.b64encode(f"id:{SERIAL}".encode()))
    assert keep(hashlib.md5(SERIAL.encode()).hexdigest().encode())
    assert not keep(b"hunter2-pw")
    assert not redact.evidence_keeper([])(SERIAL.encode())


def test_damaged_records_keep_their_bytes_in_place(tmp_path):
    clean = [http_flow(path=f"/a?id={SERIAL}"), http_flow(path="/b")]
    first = write_flows(tmp_path / "a.mitm", clean[:1]).read_bytes()
    second = write_flows(tmp_path / "b.mitm", clean[1:]).read_bytes()
    payload = b"password=hunter2-pw&id=R58N91"
    bad = b"%d:%s," % (len(payload), payload)  # a whole frame whose payload is no flow
    tail = b"900:\r\nAuthorization: Bearer cut-Off-Secret\r\n" + SERIAL.encode()  # cut off mid-record
    path = tmp_path / "dev.mitm"
    path.write_bytes(first + bad + second + tail)
    before = scan_files([path], [Canary("serial", SERIAL, "identifier")])

    assert redact.capture_file(path) == (2, 0)
    assert path.read_bytes() == (first + bad.replace(b"hunter2-pw", b"*" * 10) + second
                                 + tail.replace(b"Bearer cut-Off-Secret", b"*" * 21))
    after = scan_files([path], [Canary("serial", SERIAL, "identifier")])
    assert [str(e) for e in after.errors] == [str(e) for e in before.errors] and len(after.errors) == 2
    assert [f.to_dict() for f in after.findings] == [f.to_dict() for f in before.findings]
    note = (tmp_path / "dev.mitm.redaction.txt").read_text()
    assert "NOT redacted" in note and "record 1" in note and "record 3" in note


def test_packet_record_keeps_a_value_keep_claims(tmp_path):
    p = tmp_path / "dev-link.pcap"
    p.write_bytes(b"\r\nAuthorization: Bearer " + SERIAL.encode() + b"\r\nCookie: s=lab-Secret-77\r\n")
    keep = redact.evidence_keeper([Canary("serial", SERIAL, "identifier")])
    assert redact.packet_record(p, keep=keep) == 1
    assert SERIAL.encode() in p.read_bytes() and b"lab-Secret-77" not in p.read_bytes()
