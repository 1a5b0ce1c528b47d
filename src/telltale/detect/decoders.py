"""Capped decoders: every way of undoing an encoding, none of which can be made to explode.

Each takes a byte cap and returns what fitted plus whether it stopped early,
so a 10 GB decompression bomb costs at most `cap` bytes and a note. Nothing
here trusts a size a header claims (zstd frame sizes, gzip ISIZE).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import brotlicffi
import zstandard

CHUNK = 1 << 16
ZSTD_MAX_WINDOW = 1 << 27  # 128 MiB: zstd's own default limit for untrusted input


@dataclass(frozen=True)
class Decoded:
    """Output of one capped decode. `capped`: stopped at the cap; `error`: input damaged."""

    data: bytes
    capped: bool = False
    error: str | None = None


# --- compression -----------------------------------------------------------

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


# --- text encodings ----------------------------------------------------------

CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# a field worth decoding whatever its runs: %-escapes, escapes, a form, binary
MAY_HIDE = re.compile(rb"%[0-9A-Fa-f]{2}|[\\=&\x00-\x08\x0e-\x1f\x7f-\xff]")
# escapes no encoder needs (letters, digits as \u00XX): the document hides its text on purpose
NEEDLESS_ESCAPE = re.compile(rb"\\u00(?:3[0-9]|4[1-9a-fA-F]|5[0-9aA]|6[1-9a-fA-F]|7[0-9aA])")
JSON_PLAIN = re.compile(r"[ !#-.0-\[\]-~]*")  # printable ASCII that no JSON encoder escapes
JSON_START = re.compile(rb'[{\[]\s*"')
PCT = re.compile(rb"%[0-9A-Fa-f]{2}")
HEX_DIGITS = re.compile(rb"[0-9a-f]+|[0-9A-F]+")


@functools.cache
def _b64_run_re(min_len: int) -> re.Pattern[bytes]:
    return re.compile(rb"[A-Za-z0-9+/_-]{%d,}={0,2}" % max(1, min_len - 2))


def blob_runs(data: bytes, min_len: int) -> Iterator[bytes]:
    """Runs that may be encoded data: hex of 16+ digits, or base64 with both letter cases.

    Base64 of anything but zeros has upper- and lowercase letters; identifiers
    (`settings-1a2b`, UUIDs, timestamps) do not: they are left alone, and a
    canary encoded directly in them is matched by its variants anyway.
    """
    hex_full = HEX_DIGITS.fullmatch
    for m in _b64_run_re(min_len).finditer(data):
        run = m[0]
        if len(run) < min_len:
            continue
        if hex_full(run):
            if len(run) >= 16:
                yield run
        elif run.lower() != run and run.upper() != run:
            yield run
        elif len(run) > 16 and HEX_DIGITS.fullmatch(run, 1):  # a length byte or letter joined hex
            yield run[1:]
        elif len(run) > 16 and HEX_DIGITS.fullmatch(run, 0, len(run) - 1):
            yield run[:-1]


def has_blob_run(data: bytes, min_len: int) -> bool:
    """Whether `blob_runs` yields anything: most data has no candidate run at all (one C search)."""
    if _b64_run_re(min_len).search(data) is None:
        return False
    return next(blob_runs(data, min_len), None) is not None


def json_may_hide(doc: bytes, min_len: int) -> bool:
    """Whether any string of a JSON document may hold more than it shows: escapes, %-escapes, blobs."""
    return b"\\" in doc or PCT.search(doc) is not None or has_blob_run(doc, min_len)


def may_hide(data: bytes, min_len: int) -> bool:
    """Whether a field could hold what its parent's match did not see: a blob, escapes, binary, JSON."""
    if len(data) < min_len:
        return False
    if MAY_HIDE.search(data) is not None or data[:1] in (b"{", b"["):
        return True
    return has_blob_run(data, min_len)


def b64decode(run: bytes, cap: int) -> Decoded:
    """Standard or URL-safe, padded or not; a trailing partial quantum is dropped."""
    s = run.rstrip(b"=").translate(bytes.maketrans(b"-_", b"+/"))
    limit = (cap // 3) * 4
    capped = len(s) > limit
    s = s[:limit]
    s = s[: len(s) - (len(s) % 4 == 1)]
    try:
        return Decoded(base64.b64decode(s + b"=" * (-len(s) % 4)), capped=capped)
    except binascii.Error as e:
        return Decoded(b"", error=str(e))


def hexdecode(run: bytes, cap: int) -> Decoded:
    capped = len(run) > 2 * cap
    run = run[: 2 * cap]
    try:
        return Decoded(bytes.fromhex(run[: len(run) // 2 * 2].decode("ascii")), capped=capped)
    except ValueError as e:
        return Decoded(b"", error=str(e))


def urldecode(data: bytes, plus: bool = False) -> bytes:
    return unquote_to_bytes(data.replace(b"+", b" ") if plus else data)


_NOT_CONTROL = bytes(b for b in range(256) if not (b < 32 and b not in (9, 10, 13)))


def looks_text(data: bytes) -> bool:
    """Mostly printable UTF-8: text worth parsing as text, not as binary."""
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        cut = len(data) > len(sample) and e.reason == "unexpected end of data"
        if not cut:  # only a character cut at the sample's end is forgiven
            return False
    if not sample:
        return True
    control = len(sample.translate(None, _NOT_CONTROL))
    return control * 20 <= len(sample)


# --- structure ---------------------------------------------------------------

def _path(keys: tuple) -> str:
    out = "$"
    for k in keys:
        if isinstance(k, int):
            out += f"[{k}]"
        elif _PLAIN_KEY.fullmatch(k):
            out += f".{k}"
        else:
            out += f"[{json.dumps(k)}]"
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z_][\w-]*")


def _leaves(doc: object, max_leaves: int, want: Callable[[str], bool] | None = None) -> list[tuple[str, str]]:
    """(JSONPath, text) of the strings of `doc` that `want` (all by default), in document order."""
    out: list[tuple[str, str]] = []
    if max_leaves <= 0:
        return out
    try:
        _walk(doc, (), max_leaves, want, out)
        return out
    except (RecursionError, _Enough):
        if len(out) >= max_leaves:
            return out
    return _leaves_iter(doc, max_leaves, want)


class _Enough(Exception):
    pass


def _walk(node: object, keys: tuple, max_leaves: int, want: Callable[[str], bool] | None,
          out: list[tuple[str, str]]) -> None:
    """`_leaves_iter` by recursion: a leaf's path is made only when the leaf is wanted."""
    items = node.items() if type(node) is dict else enumerate(node) if type(node) is list else None
    if items is None:
        if type(node) is str and (want is None or want(node)):
            out.append((_path(keys), node))
            if len(out) >= max_leaves:
                raise _Enough
        return
    for k, v in items:
        t = type(v)
        if t is str:
            if want is None or want(v):
                out.append((_path(keys + (k,)), v))
                if len(out) >= max_leaves:
                    raise _Enough
        elif t is dict or t is list:
            _walk(v, keys + (k,), max_leaves, want, out)


def _leaves_iter(doc: object, max_leaves: int,
                 want: Callable[[str], bool] | None = None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    stack: list[tuple[tuple, object]] = [((), doc)]
    while stack and len(out) < max_leaves:
        keys, node = stack.pop()
        if isinstance(node, str):
            if want is None or want(node):
                out.append((_path(keys), node))
        elif isinstance(node, dict):
            stack.extend((keys + (k,), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((keys + (i,), node[i]) for i in range(len(node) - 1, -1, -1))
    return out


def _loads(text: str) -> object:
    return json.loads(text, parse_int=str, parse_float=str, parse_constant=str)


def json_leaves(data: bytes, max_leaves: int,
                want: Callable[[str], bool] | None = None) -> list[tuple[str, str]] | None:
    """(JSONPath, text) of the strings and numbers of a JSON document `want`s; None if not JSON."""
    head = data[:64].lstrip()
    if head[:1] not in (b"{", b"["):
        return None
    try:
        return _leaves(_loads(data.decode("utf-8")), max_leaves, want)
    except (ValueError, RecursionError):
        return None


_EMBEDDED = re.compile(r'[{\[]\s*"')


def embedded_json(data: bytes, max_leaves: int, max_tries: int = 8) -> list[tuple[str, str]] | None:
    """Leaves of JSON objects inside a larger text (`data={...}`, log lines): escapes undone."""
    text = data.decode("utf-8", "surrogateescape")
    decoder = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)
    out: list[tuple[str, str]] = []
    pos = 0
    for _ in range(max_tries):
        m = _EMBEDDED.search(text, pos)
        if not m:
            break
        try:
            doc, end = decoder.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            pos = m.start() + 1
            continue
        out += _leaves(doc, max_leaves - len(out))
        pos = end
    return out or None


PADDED_B64 = re.compile(rb"[A-Za-z0-9+/_-]+={1,2}")
_NAME = rb"[A-Za-z_][\w.\-\[\]%*]{0,39}"
FORM = re.compile(rb"%s=(?:[^&=\s][^&\s]*)?(?:&%s=(?:[^&=\s][^&\s]*)?)*&?" % (_NAME, _NAME))


def form_fields(data: bytes, declared: bool) -> list[tuple[bytes, bytes, bytes]] | None:
    """(name, raw value, decoded value) of an application/x-www-form-urlencoded body.

    Undeclared, a body is taken for a form only if all of it reads as one, and
    not if it is a single name with an empty value (that is padded base64).
    """
    if not declared and (len(data) > (1 << 20) or not FORM.fullmatch(data) or PADDED_B64.fullmatch(data)):
        return None
    out = []
    for pair in data.split(b"&"):
        if not pair:
            continue
        name, _, raw = pair.partition(b"=")
        out.append((urldecode(name, plus=True), raw, urldecode(raw, plus=True)))
    if not declared and len(out) == 1 and not out[0][1]:
        return None
    return out


def query_fields(query: bytes) -> list[tuple[bytes, bytes, bytes]]:
    return form_fields(query, declared=True) or []


def cookies(header: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    for pair in header.split(b";"):
        name, sep, value = pair.strip().partition(b"=")
        if sep:
            out.append((name, value.strip(b'"')))
    return out


@dataclass(frozen=True)
class MimePart:
    name: str
    headers: dict[str, str]
    body: bytes


def _boundary(content_type: str, data: bytes) -> bytes | None:
    m = re.search(r'boundary="?([^";,]+)"?', content_type, re.I)
    if m:
        return m.group(1).encode()
    if data.startswith(b"--"):
        line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
        if 2 < len(line) <= 72 and b" " not in line.strip():
            return line[2:].strip()
    return None


def multipart(data: bytes, content_type: str) -> list[MimePart] | None:
    """The parts of a multipart body (form-data or mixed); None if it is not one."""
    if not content_type.lower().startswith("multipart/") and not data.startswith(b"--"):
        return None
    b = _boundary(content_type, data)
    if not b:
        return None
    chunks = data.split(b"--" + b)
    if len(chunks) < 3:
        return None
    parts = []
    for i, chunk in enumerate(chunks[1:]):
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = chunk.partition(b"\n\n")
        if body.endswith(b"\r\n"):
            body = body[:-2]
        elif body.endswith(b"\n"):
            body = body[:-1]
        headers = {}
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        m = re.search(r'\bname="([^"]*)"', headers.get("content-disposition", ""))
        parts.append(MimePart(m.group(1) if m else str(i), headers, body))
    return parts


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("bad varint")
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def protobuf_fields(data: bytes, max_fields: int = 4096) -> list[tuple[int, bytes]] | None:
    """(field number, bytes) of each length-delimited field, if all of `data` is one message."""
    out: list[tuple[int, bytes]] = []
    i, n, seen = 0, len(data), 0
    try:
        while i < n:
            key = data[i]
            if key < 0x80:  # a one-byte key (most): no call
                i += 1
            else:
                key, i = _varint(data, i)
            field, wire = key >> 3, key & 7
            if field == 0 or field > 536870911:
                return None
            if wire == 0:
                if i < n and data[i] < 0x80:
                    i += 1
                else:
                    _, i = _varint(data, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                if i < n and data[i] < 0x80:
                    length = data[i]
                    i += 1
                else:
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
