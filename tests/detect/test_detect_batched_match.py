"""Small buffers matched together (`Matcher.scan_many`) give exactly what separate passes give.

A flow's small parts, and the views one decoding step below a view, are matched in one call
over their concatenation; a match there sends each buffer to its own pass. Nothing may be
found across two buffers, and the findings (content, order, locations, excerpts) must be
those of one pass per view.
"""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from plant import http_flow
from test_detect_planted import BODY, CANARIES, CARRIERS, IDENTS, TWINS

from telltale.detect import Canary, Detector, scan, sources, views
from telltale.detect.matcher import Matcher
from telltale.detect.model import Limits

TOKEN = "Zq7Xw2Pk9Lm4Rt8v"
ODD = "ab\ncd\xffz\x01|"  # a canary holding bytes a separator could be made of


def _separately(self, datas):
    return [self.scan(d) for d in datas]


def test_a_canary_across_two_buffers_is_not_found():
    m = Matcher([Canary("t", TOKEN), Canary("odd", ODD)])
    for value in (TOKEN.encode(), ODD.encode()):
        datas = [b"head " + value[:5], value[5:] + b" tail", b"more"]
        assert m.scan(b"".join(datas))  # the concatenation holds it
        assert m.scan_many(datas) == [[], [], []]
    # one real hit beside a straddle: found where it is, with its own offsets
    datas = [b"x" + TOKEN[:8].encode(), TOKEN[8:].encode(), b"..." + TOKEN.encode()]
    got = m.scan_many(datas)
    assert got == [m.scan(d) for d in datas]
    assert got[:2] == [[], []] and [(h.start, h.end) for h in got[2]] == [(3, 3 + len(TOKEN))]


PIECES = [TOKEN, TOKEN.lower(), ODD, base64.b64encode(TOKEN.encode()).decode(), TOKEN.encode().hex(),
          "%5A" + TOKEN[1:], "filler ", "\x00", "\n", "=="]


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
       cuts=st.lists(st.integers(0, 400), max_size=8))
def test_scan_many_is_one_scan_per_buffer(text, cuts):
    m = _MATCHER
    data = text.encode("utf-8", "surrogateescape")
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    datas = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)] + [b""]
    assert m.scan_many(datas) == [m.scan(d) for d in datas]


_MATCHER = Matcher([Canary("t", TOKEN), Canary("odd", ODD), Canary("imei", "358240051111110", "identifier")])


def _straddling_flows():
    half, rest = TOKEN[:8], TOKEN[8:]
    b64 = base64.b64encode
    return [
        # two header values, the canary split between them; and between the URL and a header
        http_flow(path="/a?x=" + half, headers={"x-a": "pre " + half, "x-b": rest + " post", "x-c": rest}),
        # two base64 blobs of one header: their decodings are siblings, matched together
        http_flow(headers={"x-d": (b64(b"first part ends " + half.encode()).decode() + " "
                                   + b64(rest.encode() + b" and goes on").decode())}),
        # two blobs, the second holding the canary: found in the second
        http_flow(headers={"x-e": (b64(b"nothing to see here").decode() + " "
                                   + b64(b"but here: " + TOKEN.encode()).decode())}),
        # JSON fields with escapes (matched on their own, as siblings)
        http_flow(body=json.dumps({"a": "\\u0041 " + half, "b": rest + " \\u0042"}).encode()),
        # the same with a real leak beside them: found, and only where it is
        http_flow(path="/b?x=" + half,
                  headers={"x-a": half, "x-b": rest, "x-leak": b64(TOKEN.encode()).decode()},
                  body=gzip.compress(json.dumps({"u": half, "v": rest, "w": TOKEN}).encode())),
    ]


def _flows():
    cases = [c[1] for c in BODY + CARRIERS + IDENTS + TWINS]
    return cases + _straddling_flows()


@pytest.mark.parametrize("limits", [Limits(), Limits(max_views=9),
                                    Limits(max_views=40, max_output=1 << 20, max_flow_bytes=(1 << 20) + 200)])
def test_batched_scan_gives_what_separate_passes_give(monkeypatch, limits):
    canaries = CANARIES + [Canary("token", TOKEN), Canary("odd", ODD)]
    flows = _flows() * 2  # the second round meets the memo
    calls = {"many": 0, "one": 0}
    real_many, real_one = Matcher.scan_many, Matcher.scan

    def counted_many(self, datas):
        calls["many"] += 1
        return real_many(self, datas)

    def counted_one(self, data):
        calls["one"] += 1
        return real_one(self, data)

    monkeypatch.setattr(Matcher, "scan_many", counted_many)
    monkeypatch.setattr(Matcher, "scan", counted_one)
    det = Detector.build(canaries, limits)
    batched = [det.scan_sent(sources.sent_of_flow(f)) for f in flows]
    assert calls["many"] > 0
    # the plain path: every view matched on its own when it is reached
    monkeypatch.setattr(Matcher, "scan_many", _separately)
    monkeypatch.setattr(scan, "examine",
                        lambda part, one, budget, vs, *_: views.examine(part, one, budget, vs))
    plain = Detector.build(canaries, limits)
    separate = [plain.scan_sent(sources.sent_of_flow(f)) for f in flows]
    assert batched == separate
    assert any(s.findings for s in separate)


def test_straddles_are_not_findings_and_the_real_leak_is():
    det = Detector.build([Canary("token", TOKEN)])
    got = [det.scan_flow(f) for f in _straddling_flows()]
    assert got[:2] + got[3:4] == [[], [], []]
    assert [f.location for f in got[2]] == ["request.header[x-e] base64"]
    assert "«" + TOKEN + "»" in got[2][0].excerpt
    assert sorted(f.location for f in got[4]) == ["request.body gzip > json $.w",
                                                  "request.header[x-leak] base64"]
    assert all("«" + TOKEN + "»" in f.excerpt for f in got[4])


# --- decoders' shortcuts: the same answers as the plain loops --------------------------------

def _protobuf_plain(data: bytes, max_fields: int = 4096):
    from telltale.detect.decoders.protobuf import _varint

    out, i, n, seen = [], 0, len(data), 0
    try:
        while i < n:
            key, i = _varint(data, i)
            field, wire = key >> 3, key & 7
            if field == 0 or field > 536870911:
                return None
            if wire == 0:
                _, i = _varint(data, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                length, i = _varint(data, i)
                if i + length > n:
                    return None
                out.append((field, data[i:i + length]))
                i += length
            else:
                return None
            seen += 1
            if seen > max_fields:
                return None
    except ValueError:
        return None
    return out if i == n and seen else None


def _streams_plain(data: bytes, limit: int = 4):
    from telltale.detect.decoders.compression import GZIP_MAGIC, ZSTD_MAGIC

    out = []
    for name, magic in (("gzip", GZIP_MAGIC + b"\x08"), ("zstd", ZSTD_MAGIC), ("deflate", b"\x78\x9c"),
                        ("deflate", b"\x78\xda"), ("deflate", b"\x78\x01"), ("deflate", b"\x78\x5e")):
        pos = data.find(magic, 1)
        while pos > 0 and len(out) < limit:
            out.append((name, pos))
            pos = data.find(magic, pos + 1)
    return out


_BYTES = st.lists(st.sampled_from([b"\x08", b"\x0a\x03abc", b"\x12", b"\x80\x01", b"\x81\x00", b"\x92\x01",
                                   b"\xff", b"\x00", b"\x1a", b"x",
                                   b"\x78\x9c", b"\x78\x01", b"\x1f\x8b\x08", b"\x28\xb5\x2f\xfd", b"\x78"]),
                  max_size=12).map(b"".join) | st.binary(max_size=40)


@settings(max_examples=500, deadline=None)
@given(data=_BYTES, limit=st.integers(1, 6))
@example(data=b"\x12\x81\x00x", limit=1)  # a two-byte length
@example(data=b"\x92\x01\x01x\x08\x81\x00", limit=1)  # a two-byte key; a two-byte varint
@example(data=b"\x0a\x03ab", limit=1)  # cut short
def test_protobuf_and_stream_shortcuts_give_the_plain_answers(data, limit):
    from telltale.detect.decoders.compression import embedded_streams
    from telltale.detect.decoders.protobuf import protobuf_fields

    assert protobuf_fields(data) == _protobuf_plain(data)
    assert protobuf_fields(data, 2) == _protobuf_plain(data, 2)
    assert embedded_streams(data, limit) == _streams_plain(data, limit)
