"""Compressed data: capped decompressors, and the decoders that find compressed streams.

Each decompressor takes a byte cap and returns what fitted plus whether it
stopped early, so a 10 GB decompression bomb costs at most `cap` bytes and a
note. Nothing here trusts a size a header claims (zstd frame sizes, gzip ISIZE).
A stream is found by its content-encoding header, by its magic bytes (at the
start, or inside a binary container), or, with neither, only as one whole
valid stream.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import brotlicffi
import zstandard

from telltale.detect.decoders._api import Budget, Child, Decoded, View, always

CHUNK = 1 << 16
ZSTD_MAX_WINDOW = 1 << 27  # 128 MiB: zstd's own default limit for untrusted input
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def sniff_compression(data: bytes) -> str | None:
    """The compression whose magic bytes start `data` (brotli has none: only by header)."""
    if data.startswith(GZIP_MAGIC) and len(data) > 3 and data[2] == 8:
        return "gzip"
    if data.startswith(ZSTD_MAGIC):
        return "zstd"
    if len(data) > 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0:
        return "deflate"  # zlib-wrapped deflate (RFC 1950 header check)
    return None


_ANY_MAGIC = re.compile(rb"\x1f\x8b\x08|\x28\xb5\x2f\xfd|\x78[\x9c\xda\x01\x5e]")


def embedded_streams(data: bytes, limit: int = 4) -> list[tuple[str, int]]:
    """(compression, offset) of gzip/zstd/zlib streams starting after offset 0 of a binary blob."""
    if _ANY_MAGIC.search(data, 1) is None:  # most blobs hold none (one C search)
        return []
    out = []
    for name, magic in (("gzip", GZIP_MAGIC + b"\x08"), ("zstd", ZSTD_MAGIC), ("deflate", b"\x78\x9c"),
                        ("deflate", b"\x78\xda"), ("deflate", b"\x78\x01"), ("deflate", b"\x78\x5e")):
        pos = data.find(magic, 1)
        while pos > 0 and len(out) < limit:
            out.append((name, pos))
            pos = data.find(magic, pos + 1)
    return out


def _inflate(data: bytes, wbits: int, cap: int, strict: bool = False) -> Decoded:
    out = bytearray()
    d = zlib.decompressobj(wbits)
    buf = data
    try:
        while True:
            room = cap - len(out)
            if room <= 0:
                return Decoded(bytes(out), capped=True)
            out += d.decompress(buf, min(room, CHUNK * 16))
            buf = d.unconsumed_tail
            if d.eof:
                rest = d.unused_data
                if wbits == 31 and rest.startswith(GZIP_MAGIC):  # multi-member gzip
                    d, buf = zlib.decompressobj(wbits), rest
                    continue
                return Decoded(bytes(out), error="trailing data" if strict and rest else None)
            if not buf:
                out += d.flush(max(0, cap - len(out))) if cap > len(out) else b""
                return Decoded(bytes(out), error=None if d.eof else "compressed stream ends early")
    except zlib.error as e:
        return Decoded(bytes(out), error=str(e))


def gunzip(data: bytes, cap: int) -> Decoded:
    return _inflate(data, 31, cap)


def inflate(data: bytes, cap: int) -> Decoded:
    """HTTP "deflate": zlib-wrapped by the standard, raw by many servers; try both."""
    first = _inflate(data, 15, cap)
    if first.error and not first.data:
        return _inflate(data, -15, cap)
    return first


def inflate_raw(data: bytes, cap: int) -> Decoded:
    """Raw deflate that must end exactly at the end of `data` (it is only ever guessed at)."""
    return _inflate(data, -15, cap, strict=True)


ZSTD_FEED = 512  # input bytes per call: at most ~22 MB of output even for RLE blocks


def unzstd(data: bytes, cap: int) -> Decoded:
    """Frame by frame, fed in small slices so one call cannot exceed the cap by much.

    (The one-shot call trusts the frame header's size; a stream reader loses
    a frame's output when bytes that are not zstd follow it.)
    """
    out = bytearray()
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    rest = data
    try:
        while rest.startswith(ZSTD_MAGIC):
            obj = dctx.decompressobj()
            pos = 0
            while not obj.eof and pos < len(rest):
                out += obj.decompress(rest[pos:pos + ZSTD_FEED])
                pos += ZSTD_FEED
                if len(out) >= cap:
                    return Decoded(bytes(out[:cap]), capped=True)
            if not obj.eof:
                return Decoded(bytes(out), error="compressed stream ends early")
            rest = obj.unused_data + rest[pos:]
        return Decoded(bytes(out))
    except zstandard.ZstdError as e:
        return Decoded(bytes(out), error=str(e))


def unbrotli(data: bytes, cap: int) -> Decoded:
    out = bytearray()
    d = brotlicffi.Decompressor()
    try:
        out += d.process(data, output_buffer_limit=min(cap, CHUNK * 16))
        while not d.can_accept_more_data():
            if len(out) >= cap:
                return Decoded(bytes(out[:cap]), capped=True)
            out += d.process(b"", output_buffer_limit=min(cap - len(out), CHUNK * 16))
        if len(out) > cap:
            return Decoded(bytes(out[:cap]), capped=True)
        if not d.is_finished():
            return Decoded(bytes(out), error="compressed stream ends early")
        return Decoded(bytes(out))
    except brotlicffi.error as e:
        return Decoded(bytes(out), error=str(e))


DECOMPRESSORS = {"gzip": gunzip, "x-gzip": gunzip, "deflate": inflate, "br": unbrotli, "zstd": unzstd}


def real_stream(name: str, d: Decoded) -> bool:
    """A sniffed stream worth a view: zlib's 2-byte header occurs in noise, so a broken one must
    have given some output first (and its damage is then worth a note)."""
    if not d.data:
        return False
    return name != "deflate" or not d.error or len(d.data) >= 64


def guess_headerless(data: bytes, cap: int, brotli: bool = True) -> tuple[str, Decoded] | None:
    """Brotli or raw deflate sent with no header (no magic): accepted only as a whole, valid stream."""
    for name, fn in (("deflate", inflate_raw), ("br", unbrotli))[: 2 if brotli else 1]:
        d = fn(data, cap)
        if d.data and (d.capped or not d.error):  # noise is rarely one whole valid stream
            return name, d
    return None


@dataclass(frozen=True)
class Decompress:
    """A stream its content-encoding header names (the outermost coding first), else one whose
    magic bytes start the view."""

    name: str = "compressed"
    headerless: bool = True

    applies = always  # header and magic are both looked at by `children`

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        encs: list[str] = []
        if view.content_encoding:
            encs = [e.strip().lower() for e in view.content_encoding.split(",")]
            encs = [e for e in encs if e and e != "identity"]
        if encs:
            name = "gzip" if encs[-1] == "x-gzip" else encs[-1]
            fn = DECOMPRESSORS.get(name)
            if fn is not None:
                d = fn(view.data, budget.cap)
                if d.data or not d.error:
                    budget.decoded(view, d, name)
                    return [Child(d.data, name, name, content_encoding=", ".join(encs[:-1]),
                                  content_type=view.content_type)]
        name = sniff_compression(view.data)
        if name is not None:
            d = DECOMPRESSORS[name](view.data, budget.cap)
            if real_stream(name, d):
                budget.decoded(view, d, name)
                return [Child(d.data, name, name, content_type=view.content_type)]
        return None


@dataclass(frozen=True)
class Headerless:
    """Raw deflate or brotli with neither header nor magic: guessed only in binary data that a
    body is, or a `headerless` decoder gave whole; brotli only in a whole body or MIME part."""

    name: str = "headerless"
    headerless: bool = True

    def applies(self, view: View) -> bool:
        return len(view.data) >= 8 and (not view.chain or view.headerless) and not view.text

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        whole = not view.chain or view.chain[-1] == "multipart"  # a body, a message, a part
        found = guess_headerless(view.data, budget.cap, brotli=whole)
        if found is None:
            return None
        name, d = found
        budget.decoded(view, d, name)
        return [Child(d.data, name, name, content_type=view.content_type)]


@dataclass(frozen=True)
class EmbeddedStreams:
    """A gzip, zstd or zlib stream inside a binary container (a record, a frame): found by its magic."""

    name: str = "embedded-stream"
    headerless: bool = True

    def applies(self, view: View) -> bool:
        return not view.text

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        data, out = view.data, []
        for name, off in embedded_streams(data):
            d = DECOMPRESSORS[name](data[off:], budget.cap)
            if real_stream(name, d):
                budget.decoded(view, d, name)
                out.append(Child(d.data, f"{name}@{off}", name))
        return out
