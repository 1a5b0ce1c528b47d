"""Secrets out of evidence: what leaves the lab must not carry the lab's (or a user's) credentials,
and must still prove every leak it proved before.

Before anything is attached to a report or bundled, credentials in what was captured are
replaced by `[REDACTED]`: Authorization-type headers, cookie values, bearer tokens anywhere in
a header, and the values of credential fields (by exact name) in query strings, form, JSON and
multipart bodies. Only the credential's own bytes are cut; every other byte stays as sent, so a
finding's place and decoding chain are the same in the redacted capture. A value that carries a
canary or a device identifier is evidence, not the lab's secret: a `keep` predicate (see
`evidence_keeper`) leaves it as it is. `--no-redact` keeps everything, for internal runs.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from json.decoder import scanstring
from pathlib import Path
from typing import BinaryIO

import brotlicffi
import zstandard
from mitmproxy import http, io
from mitmproxy.flow import Flow
from mitmproxy.io import compat

from telltale.capture import store
from telltale.detect import decoders
from telltale.detect.model import Canary, Part, Sent
from telltale.detect.scan import Detector
from telltale.errors import CaptureFileError

MARK = "[REDACTED]"
_MARK = MARK.encode()
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                  "x-auth-token", "x-csrf-token", "x-xsrf-token"}
FORM = "application/x-www-form-urlencoded"

CREDENTIAL_FIELDS = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "passcode",
    "new_password", "old_password", "current_password", "confirm_password", "password_confirmation",
    "secret", "client_secret", "clientsecret", "app_secret", "api_secret",
    "api_key", "apikey", "api-key", "x-api-key", "private_key", "privatekey",
    "token", "access_token", "accesstoken", "refresh_token", "refreshtoken", "id_token", "idtoken",
    "auth_token", "authtoken", "session_token", "sessiontoken",
    "sessionid", "session_id", "jsessionid", "phpsessid",
    "csrf", "_csrf", "csrf_token", "csrftoken", "csrfmiddlewaretoken", "xsrf_token", "_xsrf",
    "authenticity_token", "authorization",
})
"""Field names whose values are credentials: matched whole (case-insensitive), never as substrings.

A substring rule (`token`, `auth`, `sid`...) also takes `author`, `inside`, `device_token`,
`push_token`: fields that carry what identifies a device, which is the evidence a failed run
rests on. Blanking them made a capture in which the leak could no longer be found. A name like
`user[password]` counts by its last bracketed key. `token` alone is on the list: it is the most
common name of a bearer credential in query strings and JSON (`?token=`, `{"token": ...}` login
answers), and leaving it out would ship test accounts' tokens; a `token` that carries a canary or
an identifier is kept by `keep`, which guards evidence whatever a field is called.
"""

MAX_DECODED = 16 << 20
"""A compressed body is redacted only if it decodes whole within this size (a decompression bomb
cannot take the machine); a larger one is left as sent, unredacted."""

Keep = Callable[[bytes], bool]
_CODING_HEADERS = ("content-encoding", "x-telltale-content-encoding")  # evidence's HAR moves it aside
_LAST_KEY = re.compile(r"\[([^\[\]]*)\]$")


def is_credential(name: str) -> bool:
    """Whether a field called `name` holds a credential (an exact name, or a last `[key]` that is one)."""
    n = name.lower()
    if n in CREDENTIAL_FIELDS:
        return True
    m = _LAST_KEY.search(n)
    return m is not None and m.group(1) in CREDENTIAL_FIELDS


def _kept(raw: bytes, decoded: bytes, keep: Keep | None) -> bool:
    """Whether a value stays: `keep` claims it (asked as sent and, when that differs, as decoded),
    or it is the mark already (redacting twice changes nothing)."""
    return raw == _MARK or (keep is not None and (keep(raw) or (decoded != raw and keep(decoded))))


def _splice(data: bytes, cuts: list[tuple[int, int, bytes]]) -> bytes:
    out, pos = [], 0
    for start, end, new in sorted(cuts):
        out += [data[pos:start], new]
        pos = end
    return b"".join(out) + data[pos:]


# --- headers -----------------------------------------------------------------

BEARER = re.compile(rb"(?i)\b(?:bearer|basic|digest)\s+([A-Za-z0-9._~+/=-]+)")


def _cookies(value: bytes, keep: Keep | None, first_only: bool) -> bytes:
    """Each cookie's value cut, its name kept (`Set-Cookie`: only the first pair; the rest are attributes)."""
    pieces = value.split(b";")
    for i, piece in enumerate(pieces[:1] if first_only else pieces):
        body = piece.lstrip()
        name, eq, v = body.partition(b"=")
        if not eq:
            name, v = b"", body
        if v.strip() and not _kept(v, v, keep):
            pieces[i] = piece[: len(piece) - len(body)] + (name + b"=" if eq else b"") + _MARK
    return b";".join(pieces)


def _header_value(name: str, value: bytes, keep: Keep | None) -> bytes:
    if name in ("cookie", "set-cookie"):
        return _cookies(value, keep, name == "set-cookie")
    if name in SECRET_HEADERS:
        return value if not value.strip() or _kept(value, value, keep) else _MARK
    cuts = [(m.start(1), m.end(1), _MARK) for m in BEARER.finditer(value)
            if not _kept(m.group(1), m.group(1), keep)]
    return _splice(value, cuts) if cuts else value


def _headers(h: http.Headers | None, keep: Keep | None) -> bool:
    if h is None:
        return False
    fields = [(n, _header_value(n.decode("latin-1").lower(), v, keep)) for n, v in h.fields]
    if fields == list(h.fields):
        return False
    h.fields = tuple(fields)
    return True


# --- query strings and forms --------------------------------------------------

def _pairs(data: bytes, keep: Keep | None) -> bytes | None:
    """`a=1&password=x` with each credential field's value cut, byte for byte otherwise; None: no cut."""
    pieces = data.split(b"&")
    cut = False
    for i, piece in enumerate(pieces):
        name, eq, value = piece.partition(b"=")
        if not (eq and value):
            continue
        key = decoders.urldecode(name, plus=True).decode("utf-8", "replace")
        if is_credential(key) and not _kept(value, decoders.urldecode(value, plus=True), keep):
            pieces[i] = name + b"=" + _MARK
            cut = True
    return b"&".join(pieces) if cut else None


def _query(path: bytes, keep: Keep | None) -> bytes | None:
    head, q, rest = path.partition(b"?")
    query, h, fragment = rest.partition(b"#")
    new = _pairs(query, keep) if q and query else None
    return None if new is None else head + q + new + h + fragment


# --- JSON ----------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],]|[^\s{}\[\],:"]+')  # JSON tokens
_MAYBE = re.compile(b"(?i)" + b"|".join(re.escape(n.encode()) for n in sorted(CREDENTIAL_FIELDS)))


def _json_cuts(text: str, start: int, end: int, keep: Keep | None) -> list[tuple[int, int]]:
    """Spans of the credential values of the valid JSON document `text[start:end]`, at any depth.

    A credential key's string or number is cut; under a credential key holding an object or a
    list, every string and number is. `true`, `false`, `null` and "" carry no secret and stay.
    """
    cuts: list[tuple[int, int]] = []
    stack: list[list[bool]] = []  # per open container: [object, all secret, wants a key, key secret]
    for m in _TOKEN.finditer(text, start, end):
        tok = m.group()
        c = tok[0]
        top = stack[-1] if stack else None
        if c == '"':
            if top is not None and top[2]:
                top[2], top[3] = False, is_credential(scanstring(tok, 1)[0] if "\\" in tok else tok[1:-1])
            elif len(tok) > 2 and top is not None and (top[1] or top[3]):
                value = scanstring(tok, 1)[0].encode("utf-8", "surrogatepass")
                if not _kept(tok[1:-1].encode("utf-8", "surrogatepass"), value, keep):
                    cuts.append(m.span())
        elif c == ",":
            if top is not None and top[0]:
                top[2] = True
        elif c in "{[":
            stack.append([c == "{", top is not None and (top[1] or top[3]), c == "{", False])
        elif c in "}]":
            stack.pop()
        elif tok[-1].isdigit() and top is not None and (top[1] or top[3]):  # a number (true, null... stay)
            if not _kept(tok.encode(), tok.encode(), keep):
                cuts.append(m.span())
    return cuts


def _json(data: bytes, keep: Keep | None) -> bytes | None:
    """A JSON body (or several documents one after another) with credential values replaced by
    "[REDACTED]" in its raw text; None when nothing was cut or it is not JSON (left as sent)."""
    if _MAYBE.search(data) is None and b"\\" not in data:
        return None  # no key can be a credential name
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder = json.JSONDecoder()
    pos = 1 if text.startswith("\ufeff") else 0
    cuts: list[tuple[int, int]] = []
    while True:
        pos = _WS.match(text, pos).end()
        if pos >= len(text):
            break
        try:
            _, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            break  # what follows is not JSON: left as it is
        cuts += _json_cuts(text, pos, end, keep)
        pos = end
    if not cuts:
        return None
    out, last = [], 0
    for a, b in cuts:
        out += [text[last:a], f'"{MARK}"']
        last = b
    return ("".join(out) + text[last:]).encode("utf-8")


# --- multipart -----------------------------------------------------------------

_BOUNDARY = re.compile(r'(?i)boundary="?([^";,]+)"?')
_PART_NAME = re.compile(rb'(?im)^content-disposition:[^\r\n]*?\bname=(?:"([^"]*)"|([^;\s]+))')
_PART_TYPE = re.compile(rb"(?im)^content-type:[ \t]*([^\r\n]*)")


def _multipart(data: bytes, ctype: str, keep: Keep | None, depth: int) -> bytes | None:
    """Credential parts' bodies cut (a part is named by its Content-Disposition `name=`), and
    JSON, form or multipart parts redacted inside; None when nothing was cut."""
    m = _BOUNDARY.search(ctype)
    if m is None:
        return None
    delim = b"--" + m.group(1).strip().encode("latin-1", "replace")
    starts = [i for i in _find_all(data, delim) if i == 0 or data[i - 1:i] == b"\n"]
    cuts: list[tuple[int, int, bytes]] = []
    for here, nxt in zip(starts, starts[1:], strict=False):
        line_end = data.find(b"\n", here)
        if data[here + len(delim):here + len(delim) + 2] == b"--" or line_end < 0 or line_end >= nxt:
            break
        end = nxt - (2 if data[nxt - 2:nxt] == b"\r\n" else 1)
        head_end, sep = _head_end(data, line_end + 1, end)
        if head_end < 0:
            continue
        head, body_start = data[line_end + 1:head_end], head_end + sep
        body = data[body_start:end]
        nm = _PART_NAME.search(head)
        name = (nm.group(1) if nm.group(1) is not None else nm.group(2)) if nm else b""
        name = name.decode("utf-8", "replace")
        if is_credential(name):
            if body and not _kept(body, body, keep):
                cuts.append((body_start, end, _MARK))
        else:
            pt = _PART_TYPE.search(head)
            new = _body(body, pt.group(1).decode("latin-1") if pt else "", keep, depth + 1)
            if new is not None:
                cuts.append((body_start, end, new))
    return _splice(data, cuts) if cuts else None


def _head_end(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Where a part's headers end and the length of the blank line after them (-1: none)."""
    for sep in (b"\r\n", b"\n"):
        if data.startswith(sep, start):  # no headers at all
            return start, len(sep)
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep, start, end)
        if i >= 0:
            return i, len(sep)
    return -1, 0


def _find_all(data: bytes, needle: bytes) -> Iterable[int]:
    i = data.find(needle)
    while i >= 0:
        yield i
        i = data.find(needle, i + 1)


# --- bodies ----------------------------------------------------------------------

def _mime(ctype: str) -> str:
    return ctype.split(";")[0].strip().lower()


def _may_hold_fields(mime: str) -> bool:
    """Whether a body of this type can carry named fields; others (images, HTML, scripts) are
    never decoded or parsed, so a capture's large responses cost nothing here."""
    return (not mime or mime in (FORM, "text/plain", "application/octet-stream") or "json" in mime
            or mime.startswith("multipart/"))


def _body(data: bytes, ctype: str, keep: Keep | None, depth: int = 0) -> bytes | None:
    """A body with its credential values cut, by its type (or its look); None when nothing was cut."""
    mime = _mime(ctype)
    if not data or depth > 4 or not _may_hold_fields(mime):
        return None
    if mime.startswith("multipart/"):
        return _multipart(data, ctype, keep, depth)
    if mime == FORM or (mime in ("", "text/plain") and decoders.FORM.fullmatch(data)):
        return _pairs(data, keep)
    if "json" in mime or data.lstrip()[:1] in (b"{", b"["):
        return _json(data, keep)
    return None


def _encode(name: str, data: bytes, original: bytes) -> bytes:
    if name in ("gzip", "x-gzip"):
        return gzip.compress(data)
    if name == "deflate":
        if decoders.sniff_compression(original) == "deflate":  # zlib-wrapped, as the standard says
            return zlib.compress(data)
        c = zlib.compressobj(wbits=-15)
        return c.compress(data) + c.flush()
    if name == "br":
        return brotlicffi.compress(data)
    return zstandard.ZstdCompressor().compress(data)


def _coded(raw: bytes, codings: list[str], redact: Callable[[bytes], bytes | None]) -> bytes | None:
    """`redact` on what `codings` (outermost last) wrap, encoded again the same way only if it cut.

    A coding not known, a damaged stream or one past `MAX_DECODED` leaves the body as sent.
    """
    if not codings:
        return redact(raw)
    name = codings[-1]
    fn = decoders.DECOMPRESSORS.get(name)
    if fn is None:
        return None
    d = fn(raw, MAX_DECODED)
    if d.capped or d.error:
        return None
    inner = _coded(d.data, codings[:-1], redact)
    return None if inner is None else _encode(name, inner, raw)


def _message_body(msg: http.Message, keep: Keep | None) -> bytes | None:
    raw = msg.raw_content
    ctype = msg.headers.get("content-type", "")
    if not raw or not _may_hold_fields(_mime(ctype)):
        return None
    coding = next((msg.headers[h] for h in _CODING_HEADERS if h in msg.headers), "")
    codings = [c.strip().lower() for c in coding.split(",") if c.strip().lower() not in ("", "identity")]
    return _coded(raw, codings, lambda data: _body(data, ctype, keep))


# --- flows -------------------------------------------------------------------------

def flow(f: Flow, keep: Keep | None = None, copy: bool = True) -> tuple[Flow, bool]:
    """A redacted copy of `f` (the original is not touched) and whether anything was cut.

    The copy keeps the flow's id (findings name flows by it). `keep(value)` true leaves a
    credential value as sent: it carries evidence. Request and response alike: a login
    answer's token is as much the lab's secret as the request's password. `copy=False`
    redacts `f` itself (a flow just read from a file, about to be written again).
    """
    if not isinstance(f, http.HTTPFlow):
        return f, False
    if copy:
        fid, f = f.id, f.copy()
        f.id = fid  # a copy gets a new id; findings, reports and windows name the flow by its own
    changed = False
    for msg in (f.request, f.response):
        if msg is None:
            continue
        changed |= _headers(msg.headers, keep)
        changed |= _headers(msg.trailers, keep)
        body = _message_body(msg, keep)
        if body is not None:
            msg.raw_content = body
            changed = True
    path = _query(f.request.data.path, keep)
    if path is not None:
        f.request.data.path = path
        changed = True
    return f, changed


def flows(fs: list[Flow], keep: Keep | None = None) -> list[Flow]:
    """`flow` on each, in order (the redacted copies only)."""
    return [flow(f, keep)[0] for f in fs]


def evidence_keeper(canaries: Iterable[Canary]) -> Keep:
    """A `keep` that claims every value holding one of `canaries` in any encoding the detector
    knows (base64, URL, hex, compression, hashes of identifiers...): the detector itself decides,
    so redaction keeps exactly what a scan would find."""
    det = Detector.build(canaries)
    if not det.canaries:
        return lambda _value: False

    def keep(value: bytes) -> bool:
        sent = Sent("redaction", "", None, (Part("value", value),))
        return bool(det.scan_sent(sent).findings)

    return keep


def keeper(values: Mapping[str, str], identifiers: Mapping[str, str] = ()) -> Keep:  # type: ignore[assignment]
    """The `keep` of a run or a window: its canary values and the device identifiers (values too
    short to be searched for are no evidence, and are not kept for it)."""
    canaries = []
    for kind, pairs in (("canary", dict(values)), ("identifier", dict(identifiers))):
        for name, value in pairs.items():
            with contextlib.suppress(ValueError):
                canaries.append(Canary(str(name), str(value), kind))  # type: ignore[arg-type]
    return evidence_keeper(canaries)


_HEADER_LOC = re.compile(r"header\[([^\]]+)\]", re.I)


def finding_row(row: dict) -> dict:
    """A finding in a credential header keeps its match but not the credential around it."""
    m = _HEADER_LOC.search(row.get("location", ""))
    excerpt = row.get("excerpt", "")
    if m and m.group(1).lower() in SECRET_HEADERS and "«" in excerpt:
        start, end = excerpt.index("«"), excerpt.rindex("»") + 1
        row = {**row, "excerpt": f"{MARK}…{excerpt[start:end]}…{MARK}"}
    return row


# --- raw bytes: packet records and damaged capture records ---------------------------

_WIRE_HEADER = re.compile(
    rb"(?i)(\r\n(?:" + b"|".join(re.escape(h.encode()) for h in sorted(SECRET_HEADERS))
    + rb")[ \t]*:[ \t]*)([^\r\n]+)")
_WIRE_BEARER = re.compile(rb"(?i)(\b(?:bearer|basic|digest)\s+)([A-Za-z0-9._~+/=-]{4,})")
# in a flow record: a header stored as tnetstring `[name, value]` (value's length given before it)
_TN_HEADER = re.compile(
    rb"(?i)\d{1,3}:(?:" + b"|".join(re.escape(h.encode()) for h in sorted(SECRET_HEADERS)) + rb"),(\d{1,9}):")
_NAMES = b"|".join(re.escape(n.encode()) for n in sorted(CREDENTIAL_FIELDS, key=len, reverse=True))
_RAW_PAIR = re.compile(rb"(?i)(?<![\w%.\-])(?:" + _NAMES + rb")\]?=([\w%.~+/=*!()\-:@$]+)")
_RAW_JSON = re.compile(rb'(?i)"(?:' + _NAMES + rb')"\s*:\s*(?:"((?:[^"\\\r\n]|\\.)*)"|(-?\d[\d.eE+\-]*))')


def _blank(data: bytearray, rxs: Iterable[re.Pattern[bytes]], keep: Keep | None) -> int:
    """Overwrite each match's value group with `*` of the same length (so lengths and offsets hold)."""
    count = 0
    for rx in rxs:
        for m in list(rx.finditer(data)):
            g = max(i for i in range(1, (rx.groups or 0) + 1) if m.group(i) is not None)
            start, end = m.span(g)
            value = bytes(data[start:end])
            if value and not _kept(value, value, keep):
                data[start:end] = b"*" * (end - start)
                count += 1
    return count


def _blank_tn_headers(data: bytearray, keep: Keep | None) -> int:
    count = 0
    for m in list(_TN_HEADER.finditer(data)):
        start = m.end()
        end = min(len(data), start + int(m.group(1)))
        value = bytes(data[start:end])
        if value and not _kept(value, value, keep):
            data[start:end] = b"*" * (end - start)
            count += 1
    return count


def scrub_bytes(data: bytes, keep: Keep | None = None) -> bytes:
    """Credentials blanked in bytes that cannot be parsed, byte for byte and in place, so their
    lengths and damage stay as they were: credential headers (on the wire or in a flow record),
    bearer tokens, and credential fields in forms, queries and JSON where their shape shows.
    Best effort: a credential in a compressed or otherwise encoded body is not seen."""
    buf = bytearray(data)
    _blank_tn_headers(buf, keep)
    _blank(buf, (_WIRE_HEADER, _WIRE_BEARER, _RAW_PAIR, _RAW_JSON), keep)
    return bytes(buf)


def packet_record(path: Path, keep: Keep | None = None) -> int:
    """Blank credential header values in a pcap's clear-text payloads, in place, byte for byte.

    Only plain HTTP is readable in a packet record (TLS stays encrypted). Values are overwritten
    with `*` of the same length, so every packet keeps its length and place (their TCP checksums
    no longer match: the record says where the bytes were, not the credentials). A value `keep`
    claims stays. Returns the number of values blanked."""
    data = bytearray(path.read_bytes())
    count = _blank(data, (_WIRE_HEADER, _WIRE_BEARER), keep)
    if count:
        tmp = path.with_suffix(path.suffix + ".redacting")
        tmp.write_bytes(bytes(data))
        os.replace(tmp, path)
    return count


# --- capture files -------------------------------------------------------------------

def _frame_bytes(fi: BinaryIO, start: int, payload: bytes) -> bytes:
    """A record's bytes as they are in the file: its length prefix (as written) and payload."""
    head = f"{len(payload) - 1}:".encode()
    end = fi.tell()
    if end - start == len(head) + len(payload):
        return head + payload
    fi.seek(start)  # a prefix written otherwise (leading zeros): read it as it is
    raw = fi.read(end - start)
    fi.seek(end)
    return raw


_MAY_HOLD = re.compile(
    b"|".join(re.escape(n.encode()) for n in sorted({*SECRET_HEADERS, *CREDENTIAL_FIELDS}, key=len,
                                                     reverse=True))
    + rb"|bearer|basic|digest|content-encoding", re.I)


def _may_hold_credentials(raw: bytes) -> bool:
    """A cheap first look at a record's bytes: without any credential name, auth scheme or
    compressed body in them, parsing the flow could find nothing to cut (names match anywhere in
    the record, so this only ever lets more records through to the full reading)."""
    return _MAY_HOLD.search(raw) is not None


def _redact_records(fi: BinaryIO, fo: BinaryIO, p: str, keep: Keep | None) -> tuple[int, int, list[str]]:
    """Each record of `fi` to `fo`: redacted, copied as it is, or (damaged) kept scrubbed."""
    w = io.FlowWriter(fo)
    total = cut = start = 0
    damaged: list[str] = []
    for index, payload in store._read_frames(fi, p, None):
        if isinstance(payload, CaptureFileError):
            fi.seek(start)
            rest = fi.read()
            fo.write(scrub_bytes(rest, keep))
            damaged.append(f"{payload}: the {len(rest)} bytes from offset {start} to the end kept")
            break
        raw = _frame_bytes(fi, start, payload)
        start = fi.tell()
        if not _may_hold_credentials(raw):
            total += 1
            fo.write(raw)  # nothing named like a credential, nothing compressed: as it is
            continue
        try:
            state = store.parse_payload(payload)
            if not isinstance(state, dict):
                raise ValueError("record is not a flow")
            red, changed = flow(Flow.from_state(compat.migrate_flow(state)), keep, copy=False)
        except Exception as e:  # noqa: BLE001 - any damage in one record is kept, not fatal
            fo.write(scrub_bytes(raw, keep))
            damaged.append(f"{p}: record {index}: unreadable flow ({type(e).__name__}: {e}); "
                           f"its {len(raw)} bytes kept")
            continue
        total += 1
        if changed:
            w.add(red)
            cut += 1
        else:
            fo.write(raw)
    return total, cut, damaged


def capture_file(path: Path, keep: Keep | None = None) -> tuple[int, int]:
    """Rewrite a capture file redacted, atomically; returns (flows, flows redacted).

    A flow with nothing to cut is copied as its record's bytes. A damaged record cannot be
    parsed, so it cannot be redacted, but it is evidence: its bytes are kept in their place,
    with only credential shapes found in them blanked byte for byte (`scrub_bytes`), and the
    rest of a file cut off mid-record is kept the same way. ``<file>.redaction.txt`` names each
    one and says it was not redacted as flows are. `keep` as in `flow`: without it a credential
    field that carries a canary is cut like any other, so a caller that knows the run's canaries
    and identifiers passes `evidence_keeper(them)`.
    """
    p = str(path)
    tmp = Path(p + ".redacting")
    try:
        fi = open(p, "rb")
    except OSError as e:
        raise CaptureFileError(p, "open", e.strerror or str(e)) from e
    try:
        with fi, open(tmp, "wb") as fo:
            total, cut, damaged = _redact_records(fi, fo, p, keep)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # (an error here must not hide the one that stopped it)
            tmp.unlink(missing_ok=True)
    if damaged:
        Path(f"{path}.redaction.txt").write_text(
            "Damaged records kept in this capture as they were read, NOT redacted as flows are (they "
            "could not be parsed); only credential headers and fields found in their raw bytes were "
            "blanked with '*' byte for byte:\n" + "\n".join(damaged) + "\n", encoding="utf-8")
    return total, cut
