"""The scan's fast paths give exactly what the plain paths give.

The capture reader parses records with its own tnetstring parser and takes what an HTTP flow
sent from its state without building the flow; both must agree with mitmproxy's parser and
with `sent_of_flow` on every flow, and fall back to them on anything unusual.
"""

from __future__ import annotations

import io as pyio
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import io
from mitmproxy.io import tnetstring
from plant import dns_flow, http_flow, raw_flow, ws_flow

from telltale.capture import store
from telltale.detect import sources

TOKEN = "Zq7Xw2Pk9Lm4Rt8v"


def _varied_flows():
    flows = [
        http_flow(path=f"/a?t={TOKEN}"),
        http_flow(path="/b", body=b"x=1&y=%41", headers={"content-type": "application/x-www-form-urlencoded",
                                                        "Cookie": f"sid={TOKEN}; a=b"}),
        http_flow(host="xn--bcher-kva.example", path="/\u00fcber?q=\u00e9"),
        http_flow(path="*", response=b"{}"),
        ws_flow([TOKEN.encode(), b"\x00\x01"], [b"server"]),
        raw_flow("tcp", [TOKEN.encode()]),
        raw_flow("udp", [b"abc"]),
        dns_flow(f"{TOKEN}.example.com"),
    ]
    h2 = http_flow(path="/h2", headers={"x": TOKEN})
    h2.request.http_version = "HTTP/2.0"
    h2.request.authority = "other.example:8443"
    flows.append(h2)
    noport = http_flow(path="/p")
    noport.request.port = 8080
    noport.request.headers.pop("host")
    flows.append(noport)
    connect = http_flow()
    connect.request.method = "CONNECT"
    connect.request.authority = "tunnel.example:443"
    flows.append(connect)
    trailers = http_flow(path="/t", body=b"body")
    trailers.request.trailers = trailers.request.headers.__class__(((b"x-t", TOKEN.encode()),))
    flows.append(trailers)
    nopeer = http_flow(path="/np")
    nopeer.server_conn.peername = None
    flows.append(nopeer)
    return flows


def _frames(flows) -> list[bytes]:
    buf = pyio.BytesIO()
    w = io.FlowWriter(buf)
    for f in flows:
        w.add(f)
    data, out, i = buf.getvalue(), [], 0
    while i < len(data):
        colon = data.index(b":", i)
        n = int(data[i:colon])
        out.append(data[colon + 1:colon + 2 + n])
        i = colon + 2 + n
    return out


def test_fast_parser_gives_mitmproxys_state():
    for frame in _frames(_varied_flows()):
        assert store.parse_payload(frame) == tnetstring.parse(frame[-1], memoryview(frame)[:-1])


def _verdict(fn, frame):
    try:
        return "ok", fn(frame)
    except Exception as e:  # noqa: BLE001
        return "error", re.sub(r"0x[0-9a-f]+", "0x", f"{type(e).__name__}: {e}")  # memoryview addresses


@pytest.mark.parametrize("seed", range(4))
def test_fast_parser_on_damaged_records_agrees_with_mitmproxy(seed):
    rnd = random.Random(seed)
    frames = _frames(_varied_flows())
    for _ in range(400):
        frame = bytearray(rnd.choice(frames))
        for _ in range(rnd.randint(1, 3)):
            pos = rnd.randrange(len(frame))
            if rnd.random() < 0.5:
                frame[pos] = rnd.choice(b"0123456789:,;#^!~]}\x00ab ")
            else:
                del frame[pos]
        frame = bytes(frame)
        assert _verdict(store.parse_payload, frame) == \
            _verdict(lambda f: tnetstring.parse(f[-1], memoryview(f)[:-1]), frame)


def test_sent_of_state_is_sent_of_flow(tmp_path):
    path = tmp_path / "varied.mitm"
    path.write_bytes(b"".join(b"%d:%s" % (len(f) - 1, f) for f in _frames(_varied_flows())))
    fast = list(sources.read_capture(path))
    slow = [(r.index, sources.sent_of_flow(r.flow, str(path))) for r in store.read_records(path)]
    assert fast == slow
    # the fast path took the plain HTTP flows, the flow objects the rest
    states = [s for _, s in store.read_states(path)]
    taken = [sources.sent_of_state(s, str(path)) is not None for s in states]
    assert taken.count(True) >= 8 and taken.count(False) >= 4


def test_sent_of_state_leaves_unusual_states_to_the_flow():
    (frame,) = _frames([http_flow(path=f"/a?t={TOKEN}")])
    state = store.parse_payload(frame)
    assert sources.sent_of_state(state) is not None
    for change in ({"type": "tcp"}, {"websocket": {}}, {"id": 3}, {"server_conn": None}):
        assert sources.sent_of_state({**state, **change}) is None
    for key, bad in (("host", b"bytes"), ("port", "443"), ("path", "/str"), ("headers", [[b"a", "b"]]),
                     ("content", "text"), ("trailers", [[b"a"]]), ("timestamp_start", None)):
        assert sources.sent_of_state({**state, "request": {**state["request"], key: bad}}) is None
    assert sources.sent_of_state({**state, "request": {**state["request"], "extra": 1}}) is None


def _memo_flows():
    import base64
    import gzip

    b64 = base64.b64encode(b'{"u": "' + TOKEN.encode() + b'"}').decode()
    nothing = base64.b64encode(b'{"u": "nothing to see in here"}').decode()
    bomb = gzip.compress(b"\0" * (3 << 20))
    flows = []
    for i in range(12):
        headers = {"x-a": nothing, "x-b": nothing, "user-agent": "Phone/1.0", "x-c": f"v={nothing}&w={i}"}
        if i % 3 == 1:
            headers["x-leak"] = b64
        f = http_flow(path=f"/e?d={nothing}", headers=headers,
                      body=bomb if i % 4 == 2 else b"")
        if i % 4 == 2:
            f.request.headers["content-encoding"] = "gzip"
        f.request.headers.add("x-a", nothing)  # the same name and value twice in one flow
        flows.append(f)
    return flows


@pytest.mark.parametrize("limits", [dict(), dict(max_views=9), dict(max_views=40, max_output=1 << 20,
                                                                     max_flow_bytes=(1 << 20) + 200)])
def test_memo_of_parts_that_held_nothing_changes_no_result(monkeypatch, limits):
    from telltale.detect import Canary, Detector, scan
    from telltale.detect.model import Limits

    canaries = [Canary("token", TOKEN)]
    flows = _memo_flows() * 2
    det = Detector.build(canaries, Limits(**limits))
    with_memo = [det.scan_sent(sources.sent_of_flow(f)) for f in flows]
    assert det._memo  # the memo was used
    monkeypatch.setattr(scan, "MEMO_PART_BYTES", -1)
    plain = Detector.build(canaries, Limits(**limits))
    without = [plain.scan_sent(sources.sent_of_flow(f)) for f in flows]
    assert not plain._memo
    assert with_memo == without
    assert any(s.findings for s in without)
    assert limits == {} or any(s.truncated for s in without)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers().map(str) | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(doc=json_values, max_leaves=st.integers(0, 12), min_len=st.integers(0, 5))
def test_json_leaves_walk_is_the_stack_walk(doc, max_leaves, min_len):
    from telltale.detect.decoders import structure as dec

    def want(v: str) -> bool:
        return len(v) >= min_len

    for w in (None, want):
        assert dec._leaves(doc, max_leaves, w) == dec._leaves_iter(doc, max_leaves, w)


def test_json_leaves_of_a_very_deep_document_as_before():
    from telltale.detect.decoders import structure as dec

    doc: object = "x"
    for _ in range(3000):
        doc = [doc, "y"]
    assert dec._leaves(doc, 100) == dec._leaves_iter(doc, 100)
