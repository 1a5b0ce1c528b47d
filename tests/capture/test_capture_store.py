"""The capture reader keeps every intact flow of a damaged or cut-off file, and names the damage."""

import io as pyio

from mitmproxy import io
from mitmproxy.test import tflow

from telltale.capture import store


def _write(path, flows):
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        for f in flows:
            w.add(f)


def _flow(n):
    f = tflow.tflow(resp=True)
    f.request.path = f"/flow/{n}"
    f.metadata[store.WINDOW_KEY] = f"w{n}"
    return f


def test_reads_all_flows_with_their_window(tmp_path):
    p = tmp_path / "c.mitm"
    _write(p, [_flow(i) for i in range(3)])
    got = list(store.read_flows(p))
    assert [f.request.path for f in got] == ["/flow/0", "/flow/1", "/flow/2"]
    assert [store.window_of(f) for f in got] == ["w0", "w1", "w2"]


def test_cut_off_file_keeps_the_flows_before_the_cut(tmp_path):
    p = tmp_path / "c.mitm"
    _write(p, [_flow(i) for i in range(3)])
    data = p.read_bytes()
    p.write_bytes(data[:-40])
    recs = list(store.read_records(p))
    assert [r.flow.request.path for r in recs if r.flow] == ["/flow/0", "/flow/1"]
    (bad,) = [r.error for r in recs if r.error]
    assert bad.path == str(p) and bad.where == "record 2" and "truncated" in bad.message


def test_garbage_record_in_the_middle_is_reported_and_skipped(tmp_path):
    p = tmp_path / "c.mitm"
    buf = pyio.BytesIO()
    w = io.FlowWriter(buf)
    w.add(_flow(0))
    buf.write(b"11:hello world,")  # a well-framed record that is not a flow
    w.add(_flow(2))
    p.write_bytes(buf.getvalue())
    recs = list(store.read_records(p))
    assert [r.flow.request.path for r in recs if r.flow] == ["/flow/0", "/flow/2"]
    (bad,) = [r.error for r in recs if r.error]
    assert bad.where == "record 1" and "unreadable flow" in bad.message


def test_span_reads_only_the_window_records(tmp_path):
    p = tmp_path / "c.mitm"
    buf = pyio.BytesIO()
    w = io.FlowWriter(buf)
    w.add(_flow(0))
    start = buf.tell()
    w.add(_flow(1))
    end = buf.tell()
    w.add(_flow(2))
    p.write_bytes(buf.getvalue())
    assert [f.request.path for f in (r.flow for r in store.read_records(p, start, end))] == ["/flow/1"]


def test_records_split_across_read_buffers_are_read_whole(tmp_path):
    """Length prefixes cut by a buffer boundary still frame correctly (fast path and slow path)."""
    import random

    from telltale.capture.store import _read_frames

    p = tmp_path / "c.mitm"
    rnd = random.Random(7)
    flows = []
    for n in range(200):
        f = _flow(n)
        f.request.path = f"/flow/{n}/" + "x" * rnd.randint(0, 4000)
        flows.append(f)
    _write(p, flows)
    for size in (1, 7, 64, 8192):
        with pyio.BufferedReader(pyio.FileIO(p), buffer_size=size) as fo:
            frames = [fr for _, fr in _read_frames(fo, str(p), None)]
        assert len(frames) == 200 and all(isinstance(fr, bytes) for fr in frames), size
