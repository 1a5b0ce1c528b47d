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


def read_records(path: str | Path, start: int = 0, end: int | None = None) -> Iterator[Record]:
    """Yield every record of a mitmproxy flow file; bad ones as errors, never raised.

    `start` and `end` are byte offsets on record boundaries (a window's span).
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
                yield Record(index, None, frame)
                continue
            try:
                # The payload ends in its type byte; parse it in place (no copy of a large body).
                state = tnetstring.parse(frame[-1], memoryview(frame)[:-1])
                if not isinstance(state, dict):
                    raise ValueError("record is not a flow")
                yield Record(index, mflow.Flow.from_state(compat.migrate_flow(state)), None)
            except Exception as e:  # noqa: BLE001 - any damage in one record is reported, not fatal
                yield Record(index, None, CaptureFileError(p, f"record {index}", f"unreadable flow: {e}"))


def read_flows(path: str | Path) -> Iterator[mflow.Flow]:
    """Yield the intact flows of a flow file, skipping damaged records."""
    for rec in read_records(path):
        if rec.flow is not None:
            yield rec.flow


def window_of(f: mflow.Flow) -> str | None:
    """The scenario window the capture addon tagged this flow with."""
    return f.metadata.get(WINDOW_KEY)
