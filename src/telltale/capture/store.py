"""Reading flow files written by the capture addon, one flow at a time.

mitmproxy's FlowReader stops at the first bad record; a capture that died
mid-write (a killed proxy) or was damaged must still give every flow that is
intact. So records are framed here (tnetstring: ``LEN:PAYLOAD<type>``) and each
is decoded on its own: a bad one becomes a CaptureFileError naming the file and
the record, and the reader goes on with the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mitmproxy import flow as mflow
from mitmproxy.io import compat, tnetstring

from telltale.errors import CaptureFileError

WINDOW_KEY = "telltale.window"
SERVER_IP_KEY = "telltale.server_ip"  # offline upstream: the address the host map gave
ORIGINAL_KEY = "telltale.original_address"  # offline raw TCP/UDP went to a sink; "ip:port" it was for
UNEXAMINED_KEY = "telltale.unexamined"  # a flow made from the packet record: traffic the proxy never read
SERVER_NAME_KEY = "telltale.server_name"  # the lab's name for a nameless flow's address (DNS, host map)
EMPTY_CAPTURE = "no flows in it: an empty capture is not a clean one"  # nothing read is nothing judged


def original_address(f: mflow.Flow) -> tuple[str, int] | None:
    """Where a raw TCP/UDP flow was going (the offline sink replaced its server address)."""
    v = f.metadata.get(ORIGINAL_KEY)
    if v:
        host, _, port = str(v).rpartition(":")
        return host.strip("[]"), int(port)
    addr = getattr(f.server_conn, "address", None)
    return (str(addr[0]), int(addr[1])) if addr else None


def raw_destination(f: mflow.Flow) -> tuple[str | None, str | None, int | None]:
    """(host, server IP, port) of a raw TCP/UDP flow, for the detector and the destination rules
    alike. Host: the SNI, else the lab's name for the address, else the address. IP: the offline
    map's (or the sink's record of the original), else the live peer, else the address."""
    addr = original_address(f)
    peer = getattr(f.server_conn, "peername", None)
    host = f.server_conn.sni or f.metadata.get(SERVER_NAME_KEY) or (addr[0] if addr else None)
    ip = f.metadata.get(SERVER_IP_KEY) or (str(peer[0]) if peer else None) or (addr[0] if addr else None)
    return host, ip, addr[1] if addr else None
_MAX_LEN_DIGITS = 12  # a record of up to ~1 TB; more digits is garbage, not a length


@dataclass(frozen=True)
class Record:
    """One item read from a capture file: a flow, or the error that replaced it."""

    index: int
    flow: mflow.Flow | None
    error: CaptureFileError | None


def _length_prefix(fo: BinaryIO) -> tuple[bytes, bool]:
    """The digits before a record's colon (consumed), and whether a colon ended them.

    Fast path: the buffered bytes ahead; at a buffer boundary or the end of the
    file, byte by byte.
    """
    ahead = fo.peek(_MAX_LEN_DIGITS + 1)[: _MAX_LEN_DIGITS + 1]
    colon = ahead.find(b":")
    if colon >= 0:
        fo.read(colon + 1)
        return ahead[:colon], True
    if len(ahead) > _MAX_LEN_DIGITS:
        return ahead, False  # too many bytes without a colon: not a length
    head = b""
    while len(head) <= _MAX_LEN_DIGITS:
        c = fo.read(1)
        if not c or c == b":":
            return head, c == b":"
        head += c
    return head, False


def _read_frames(fo: BinaryIO, path: str, end: int | None) -> Iterator[tuple[int, bytes | CaptureFileError]]:
    """Yield (index, the record's payload with its type byte) or the error that ends the file."""
    index = 0
    while end is None or fo.tell() < end:
        head, closed = _length_prefix(fo)
        if not head and not closed:
            return  # the end of the file, between records
        if not closed or not head.isdigit():
            why = ("truncated length prefix" if head.isdigit() and len(head) <= _MAX_LEN_DIGITS
                   else "not a flow record (bad length prefix); rest of file skipped")
            yield index, CaptureFileError(path, f"record {index}", why)
            return
        size = int(head)
        payload = fo.read(size + 1)
        if len(payload) < size + 1:
            yield index, CaptureFileError(
                path, f"record {index}", f"truncated: {len(payload)} of {size + 1} bytes (capture cut off)"
            )
            return
        yield index, payload
        index += 1


def _tn_value(data: bytes, i: int, end: int) -> tuple[object, int]:
    """One tnetstring value at `data[i:]` (not past `end`): (value, where the next one starts).

    What mitmproxy's parser gives for well-formed input (`int()` and `float()` read the same
    bytes it reads), on one bytes buffer and offsets instead of memoryview slices; anything
    unusual raises, and the caller asks mitmproxy's parser.
    """
    colon = data.find(b":", i, i + 11)
    if colon < 0 or colon >= end:
        raise ValueError("length prefix")
    start = colon + 1
    stop = start + int(data[i:colon])
    if stop >= end or stop < start:
        raise ValueError("length")
    t = data[stop]
    if t == 44:  # ,
        return data[start:stop], stop + 1
    if t == 59:  # ;
        return data[start:stop].decode("utf8"), stop + 1
    if t == 125:  # }
        return _tn_items(data, start, stop), stop + 1
    if t == 93:  # ]
        lst = []
        while start < stop:
            v, start = _tn_value(data, start, stop)
            lst.append(v)
        return lst, stop + 1
    if t == 126 and start == stop:  # ~
        return None, stop + 1
    if t == 35:  # #
        return int(data[start:stop]), stop + 1
    if t == 33:  # !
        raw = data[start:stop]
        if raw == b"true":
            return True, stop + 1
        if raw == b"false":
            return False, stop + 1
    if t == 94:  # ^
        return float(data[start:stop]), stop + 1
    raise ValueError("unusual value")


def parse_payload(frame: bytes) -> object:
    """A record's payload (with its type byte at the end), parsed: mitmproxy's result and errors.

    The fast parser reads what FlowWriter writes; at anything else mitmproxy's own parser
    decides (its value, or its exception).
    """
    try:
        if frame[-1:] == b"}":
            return _tn_dict(frame)
    except Exception:  # noqa: BLE001, S110 - mitmproxy's parser below gives the verdict
        pass
    return tnetstring.parse(frame[-1], memoryview(frame)[:-1])


def _tn_items(data: bytes, start: int, stop: int) -> dict:
    """The key, value pairs of a tnetstring dict body `data[start:stop]`."""
    d: dict = {}
    while start < stop:
        k, start = _tn_value(data, start, stop)
        if start >= stop:
            raise ValueError("dict")
        d[k], start = _tn_value(data, start, stop)  # type: ignore[index]
    return d


def _tn_dict(frame: bytes) -> dict:
    """The top-level dict of a payload `frame` (its items, then the type byte `}`)."""
    return _tn_items(frame, 0, len(frame) - 1)


def read_states(path: str | Path, start: int = 0, end: int | None = None) \
        -> Iterator[tuple[int, dict | CaptureFileError]]:
    """(index, the record's flow state, migrated to this mitmproxy's format) or the error in its place.

    What `read_records` builds its flows from, for a reader that needs only part of each flow.
    """
    p = str(path)
    try:
        fo = open(p, "rb")
    except OSError as e:
        raise CaptureFileError(p, "open", e.strerror or str(e)) from e
    with fo:
        fo.seek(start)
        for index, frame in _read_frames(fo, p, end):
            if isinstance(frame, CaptureFileError):
                yield index, frame
                continue
            try:
                state = parse_payload(frame)
                if not isinstance(state, dict):
                    raise ValueError("record is not a flow")
                state = compat.migrate_flow(state)
            except Exception as e:  # noqa: BLE001 - any damage in one record is reported, not fatal
                yield index, CaptureFileError(p, f"record {index}", f"unreadable flow: {e}")
                continue
            yield index, state


def record_of_state(path: str | Path, index: int, state: dict) -> Record:
    """The flow of a state from `read_states`, or the error that replaces it."""
    try:
        return Record(index, mflow.Flow.from_state(state), None)
    except Exception as e:  # noqa: BLE001
        return Record(index, None, CaptureFileError(str(path), f"record {index}", f"unreadable flow: {e}"))


def read_records(path: str | Path, start: int = 0, end: int | None = None) -> Iterator[Record]:
    """Yield every record of a mitmproxy flow file; bad ones as errors, never raised.

    `start` and `end` are byte offsets on record boundaries (a window's span).
    """
    for index, state in read_states(path, start, end):
        if isinstance(state, CaptureFileError):
            yield Record(index, None, state)
        else:
            yield record_of_state(path, index, state)


def read_flows(path: str | Path, errors: list[CaptureFileError] | None = None) -> Iterator[mflow.Flow]:
    """Yield the intact flows of a flow file; each damaged record goes to `errors`.

    Without `errors` damage is skipped unseen: only for a reader that learns of it elsewhere
    (a test of intact files). A verdict read this way would call a damaged capture clean.
    """
    for rec in read_records(path):
        if rec.flow is not None:
            yield rec.flow
        elif errors is not None and rec.error is not None:
            errors.append(rec.error)


def window_of(f: mflow.Flow) -> str | None:
    """The scenario window the capture addon tagged this flow with."""
    return f.metadata.get(WINDOW_KEY)
