"""Hostile and damaged input: bombs are read in bounded memory, damage is named, the rest is scanned."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import brotlicffi
import pytest
import zstandard
from plant import flow_bytes, http_flow, write_flows, write_har

from telltale.detect import Canary, Detector, Limits, scan_files, scan_flows
from telltale.detect.decoders import compression as dec
from telltale.errors import CaptureFileError

TOKEN = "Zq7Xw2Pk9Lm4Rt8v"
CANARIES = [Canary("token", TOKEN)]
MiB = 1 << 20


def gzip_bomb(expanded: int, prefix: bytes = b"") -> bytes:
    """A single-member gzip stream of `expanded` bytes, made chunk by chunk (never held whole)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(prefix)]
    zeros = bytes(MiB)
    for _ in range(expanded // MiB):
        out.append(c.compress(zeros))
    out.append(c.flush())
    return b"".join(out)


def brotli_bomb(expanded: int) -> bytes:
    c = brotlicffi.Compressor(quality=1)
    zeros = bytes(MiB)
    return b"".join([c.process(zeros) for _ in range(expanded // MiB)] + [c.finish()])


def zstd_bomb(expanded: int) -> bytes:
    c = zstandard.ZstdCompressor(level=1).compressobj()
    zeros = bytes(MiB)
    return b"".join([c.compress(zeros) for _ in range(expanded // MiB)] + [c.flush()])


@pytest.mark.parametrize("name,make", [("gzip", gzip_bomb), ("br", brotli_bomb), ("zstd", zstd_bomb)])
def test_decoders_stop_at_the_cap(name, make):
    bomb = make(256 * MiB)
    d = dec.DECOMPRESSORS[name](bomb, 4 * MiB)
    assert d.capped and len(d.data) == 4 * MiB


def test_damaged_streams_give_what_came_before():
    body = (TOKEN * 200).encode()
    cut = gzip.compress(body)[:-30]
    d = dec.gunzip(cut, MiB)
    assert d.data and body.startswith(d.data) and not d.capped
    assert dec.gunzip(b"\x1f\x8b\x08garbage", MiB).error


def test_bomb_in_a_flow_is_truncated_noted_and_the_leak_before_it_found():
    limits = Limits(max_output=2 * MiB)
    bomb = gzip_bomb(512 * MiB, prefix=json.dumps({"u": TOKEN}).encode())
    flow = http_flow(body=bomb, headers={"content-encoding": "gzip"})
    det = Detector.build(CANARIES, limits)
    result = scan_flows([flow], det)
    assert [f.location for f in result.findings] == ["request.body gzip"]
    (note,) = result.truncated
    assert flow.id in note and "request.body: gzip output capped at 2 MiB" in note


def test_a_10_gib_style_bomb_in_a_capture_is_read_in_bounded_memory(tmp_path):
    """1 GiB of zeros behind ~1 MB of gzip, in a flow file, with the default caps."""
    member = gzip_bomb(256 * MiB)
    flow = http_flow(body=member * 4, headers={"content-encoding": "gzip"})  # multi-member: 1 GiB
    leak = http_flow(path=f"/c?t={TOKEN}")
    path = write_flows(tmp_path / "bomb.mitm", [flow, leak])
    tracemalloc.start()
    try:
        result = scan_files([path], CANARIES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 160 * MiB
    assert [f.flow for f in result.findings] == [leak.id]
    assert any(flow.id in t and "capped at 16 MiB" in t for t in result.truncated)
    assert result.errors == ()


def test_nesting_depth_is_capped_and_noted():
    value = TOKEN.encode()
    for _ in range(6):
        value = gzip.compress(value)
    det = Detector.build(CANARIES, Limits(max_depth=3))
    result = scan_flows([http_flow(body=value)], det)
    assert result.findings == ()
    assert any("nested deeper than 3" in t for t in result.truncated)
    assert len(scan_flows([http_flow(body=value)], CANARIES).findings) == 1  # default depth reaches it


def test_binary_garbage_and_cut_bodies_scan_quietly():
    import random
    rnd = random.Random(7)
    garbage = bytes(rnd.getrandbits(8) for _ in range(20000))
    flows = [http_flow(body=garbage), http_flow(body=garbage, headers={"content-encoding": "br"}),
             http_flow(body=gzip.compress(TOKEN.encode() * 50)[:-12], headers={"content-encoding": "gzip"})]
    result = scan_flows(flows, CANARIES)
    assert result.errors == ()
    assert [f.flow for f in result.findings] == [flows[2].id]
    assert any("cut off" in t and flows[2].id in t for t in result.truncated)



def test_damaged_flow_file_gives_the_other_flows_and_names_the_damage(tmp_path):
    a, c = http_flow(path=f"/a?t={TOKEN}"), http_flow(path=f"/c?t={TOKEN}")
    data = flow_bytes([a]) + b"11:hello world," + flow_bytes([c, http_flow(path="/cut")])
    path = tmp_path / "damaged.mitm"
    path.write_bytes(data[:-25])
    result = scan_files([path], CANARIES)
    assert [f.flow for f in result.findings] == [a.id, c.id]
    errors = [e for e in result.errors if isinstance(e, CaptureFileError)]
    assert [(e.path, e.where) for e in errors] == [(str(path), "record 1"), (str(path), "record 3")]
    assert "truncated" in errors[1].message


def test_damaged_har_names_the_entry_and_scans_the_rest(tmp_path):
    path = write_har(tmp_path / "a.har", [http_flow(path=f"/a?t={TOKEN}"), http_flow(),
                                          http_flow(path=f"/c?t={TOKEN}")])
    doc = json.loads(path.read_text())
    del doc["log"]["entries"][1]["request"]
    path.write_text(json.dumps(doc))
    result = scan_files([path], CANARIES)
    assert [f.flow for f in result.findings] == [0, 2]
    (err,) = result.errors
    assert err.path == str(path) and err.where == "entry 1"


@pytest.mark.parametrize("content,where", [(b'{"log": {"entries": [', "HAR"),
                                           (b"\x89PNG\r\n", "start of file"), (b'{"log": 3}', "HAR")])
def test_unreadable_capture_is_an_error_naming_the_file(tmp_path, content, where):
    path = tmp_path / "bad.capture"
    path.write_bytes(content)
    good = write_flows(tmp_path / "good.mitm", [http_flow(path=f"/a?t={TOKEN}")])
    result = scan_files([path, good], CANARIES)
    (err,) = result.errors
    assert err.path == str(path) and err.where == where
    assert len(result.findings) == 1


def test_missing_file_is_an_error_and_others_still_scanned(tmp_path):
    good = write_flows(tmp_path / "good.mitm", [http_flow(path=f"/a?t={TOKEN}")])
    result = scan_files([tmp_path / "nope.mitm", good], CANARIES)
    assert len(result.findings) == 1 and "nope.mitm" in str(result.errors[0])


def test_raw_content_only_never_the_decoding_content_property(monkeypatch):
    """Captured messages are decoded by the detector's capped decoders, never by mitmproxy's."""
    from mitmproxy import http as mhttp

    def boom(self, *a, **k):
        raise AssertionError("uncapped decode used")

    monkeypatch.setattr(mhttp.Message, "get_content", boom)
    flow = http_flow(body=gzip.compress(TOKEN.encode()), headers={"content-encoding": "gzip"},
                     response=gzip.compress(b"x"), resp_headers={"content-encoding": "gzip"})
    assert len(Detector.build(CANARIES).scan_flow(flow)) == 1
