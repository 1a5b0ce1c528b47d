"""Secrets out of evidence: what leaves the lab must not carry the lab's (or a user's) credentials.

Before anything is attached to a report or bundled, credentials in what was
captured are replaced: Authorization-type headers, cookies, bearer tokens
anywhere in a header, and password-like fields of forms and query strings.
Canaries are not secrets and stay, so findings still prove what they say.
`--no-redact` keeps everything, for internal runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from mitmproxy import http, io
from mitmproxy.flow import Flow

from telltale.capture import store

MARK = "[REDACTED]"
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                  "x-auth-token", "x-csrf-token", "x-xsrf-token"}
SECRET_FIELDS = re.compile(r"pass(word|wd)?|pwd|secret|token|api[_-]?key|auth|session|sid", re.I)
BEARER = re.compile(r"(?i)\b(bearer|basic|digest)\s+[A-Za-z0-9._~+/=-]+")
FORM = "application/x-www-form-urlencoded"


def _headers(h: http.Headers) -> bool:
    changed = False
    for name in list(h.keys()):
        if name.lower() in SECRET_HEADERS:
            h.set_all(name, [MARK] * len(h.get_all(name)))
            changed = True
        else:
            values = h.get_all(name)
            new = [BEARER.sub(lambda m: f"{m.group(1)} {MARK}", v) for v in values]
            if new != values:
                h.set_all(name, new)
                changed = True
    return changed


def _pairs(text: str) -> tuple[str, bool]:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(SECRET_FIELDS.search(k) for k, _ in pairs):
        return text, False
    return urlencode([(k, MARK if SECRET_FIELDS.search(k) else v) for k, v in pairs]), True


def flow(f: Flow) -> tuple[Flow, bool]:
    """A redacted copy of `f` (the original is not touched) and whether anything was cut."""
    if not isinstance(f, http.HTTPFlow):
        return f, False
    f = f.copy()
    changed = _headers(f.request.headers)
    if f.response is not None:
        changed |= _headers(f.response.headers)
    path, _, query = f.request.path.partition("?")
    if query:
        new_query, cut = _pairs(query)
        if cut:
            f.request.path = f"{path}?{new_query}"
            changed = True
    ctype = f.request.headers.get("content-type", "")
    raw = f.request.raw_content or b""
    if ctype.startswith(FORM) and raw and "content-encoding" not in f.request.headers:
        new_body, cut = _pairs(raw.decode("utf-8", "replace"))
        if cut:
            f.request.raw_content = new_body.encode()
            changed = True
    return f, changed


_HEADER_LOC = re.compile(r"header\[([^\]]+)\]", re.I)


def finding_row(row: dict) -> dict:
    """A finding in a credential header keeps its match but not the credential around it."""
    m = _HEADER_LOC.search(row.get("location", ""))
    excerpt = row.get("excerpt", "")
    if m and m.group(1).lower() in SECRET_HEADERS and "«" in excerpt:
        start, end = excerpt.index("«"), excerpt.rindex("»") + 1
        row = {**row, "excerpt": f"{MARK}…{excerpt[start:end]}…{MARK}"}
    return row


def flows(fs: list[Flow]) -> list[Flow]:
    return [flow(f)[0] for f in fs]


_WIRE_HEADER = re.compile(
    rb"(?i)(\r\n(?:" + b"|".join(re.escape(h.encode()) for h in sorted(SECRET_HEADERS))
    + rb")[ \t]*:[ \t]*)([^\r\n]+)")
_WIRE_BEARER = re.compile(rb"(?i)(\b(?:bearer|basic|digest)\s+)([A-Za-z0-9._~+/=-]{4,})")


def packet_record(path: Path) -> int:
    """Blank credential header values in a pcap's clear-text payloads, in place, byte for byte.

    Only plain HTTP is readable in a packet record (TLS stays encrypted). Values are overwritten
    with `*` of the same length, so every packet keeps its length and place (their TCP checksums
    no longer match: the record says where the bytes were, not the credentials). Returns the
    number of values blanked."""
    data = bytearray(path.read_bytes())
    count = 0
    for rx in (_WIRE_HEADER, _WIRE_BEARER):
        for m in list(rx.finditer(data)):
            start, end = m.span(2)
            data[start:end] = b"*" * (end - start)
            count += 1
    if count:
        tmp = path.with_suffix(path.suffix + ".redacting")
        tmp.write_bytes(bytes(data))
        os.replace(tmp, path)
    return count


def capture_file(path: Path) -> tuple[int, int]:
    """Rewrite a capture file redacted, atomically; returns (flows, flows redacted).

    Damaged records cannot be parsed, so they cannot be redacted and are left out
    of the redacted file; each one is named in ``<file>.redaction.txt`` beside it.
    """
    tmp = path.with_suffix(path.suffix + ".redacting")
    total = cut = 0
    dropped = []
    with open(tmp, "wb") as fo:
        w = io.FlowWriter(fo)
        for rec in store.read_records(path):
            if rec.flow is None:
                dropped.append(str(rec.error))
                continue
            red, changed = flow(rec.flow)
            w.add(red)
            total += 1
            cut += changed
    os.replace(tmp, path)
    if dropped:
        Path(f"{path}.redaction.txt").write_text(
            "Damaged records left out of this redacted capture (they could not be read, so not "
            "redacted):\n" + "\n".join(dropped) + "\n", encoding="utf-8")
    return total, cut
