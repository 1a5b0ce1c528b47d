"""Text encodings: %-escapes, and base64 or hex blobs inside whatever holds them.

Blobs are decoded only when the result looks like data (text, compressed,
structured): a canary inside noise needs no view, since the blob's own encoded
forms (the matcher's base64 and hex variants) already matched it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from telltale.detect.decoders._api import Budget, Child, Decoded, View, always, looks_text
from telltale.detect.decoders.compression import embedded_streams, guess_headerless, sniff_compression
from telltale.detect.decoders.protobuf import protobuf_fields

MAX_BLOBS_PER_VIEW = 256
# a field worth decoding whatever its runs: %-escapes, escapes, a form, binary
MAY_HIDE = re.compile(rb"%[0-9A-Fa-f]{2}|[\\=&\x00-\x08\x0e-\x1f\x7f-\xff]")
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


@dataclass(frozen=True)
class UrlEscapes:
    """%-escapes in any text or bytes: undone, both ways when "+" may be a space or a "+"."""

    name: str = "urldecode"
    headerless: bool = True

    def applies(self, view: View) -> bool:
        return PCT.search(view.data) is not None

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        data, out = view.data, []
        # "+" is a space in forms and a "+" in URL-encoded base64: when present, take both readings
        for plus in (False, True) if b"+" in data else (False,):
            decoded = urldecode(data, plus=plus)
            if decoded != data:
                out.append(Child(decoded, "urldecode", "url"))
        return out


def _score(d: Decoded) -> float:
    """How much a decode looks like data rather than noise: magic bytes, else printable share."""
    if not d.data:
        return -1.0
    if sniff_compression(d.data):
        return 2.0
    sample = d.data[:512]
    ok = [32 <= b < 127 or b in (9, 10, 13) for b in sample]
    lead = ok.index(False) if False in ok else len(ok)  # text that starts right: the blob's start
    return (lead + sum(ok)) / (2 * len(sample))


def _plausible(d: Decoded, from_hex: bool = False) -> tuple[bool, bool | None]:
    """Whether a decoded blob is data worth decoding further, not the noise an ID decodes to; and
    whether it reads as text, when that was worked out on the way (its view need not again).

    Noise needs no view: a canary inside it was already matched in the blob's
    own encoded form (the base64 and hex variants).
    """
    data = d.data
    if len(data) < 4:
        return False, None
    if d.capped or sniff_compression(data):
        return True, None
    if looks_text(data):
        return True, True
    if embedded_streams(data) or protobuf_fields(data):
        return True, False
    if has_blob_run(data, 8):  # noise seldom has 8 base64 characters in a row
        return True, False
    if JSON_START.search(data) is not None:  # JSON inside a binary record
        return True, False
    # raw deflate with no header (cheap to try); brotli with no header only as a whole body
    deflated = not from_hex and len(data) >= 8 and guess_headerless(data, 1 << 16, brotli=False) is not None
    return deflated, False


def _b64_decodes(run: bytes, cap: int) -> list[tuple[Decoded, str, bool | None]]:
    """Decodes of a blob that give data: hex, base64 as it starts, or base64 from a later start;
    each with whether it reads as text, if known.

    A run of base64 characters may start with a few that are not the blob's
    (a path's `v1/`, a word, a length byte): then one of the 3 other starts
    gives text or compressed data.
    """
    out: list[tuple[Decoded, str, bool | None]] = []
    if HEX_DIGITS.fullmatch(run):
        cands = [run] if len(run) % 2 == 0 else [run[1:], run[:-1]]  # a neighbour joined the run
        for d in (hexdecode(c, cap) for c in cands):
            ok, text = _plausible(d, from_hex=True)
            if ok:
                out.append((d, "hex", text))
        if out or len(run) >= 16:
            return out
    first = b64decode(run, cap)
    ok, text = _plausible(first)
    if ok:
        return out + [(first, "base64", text)]
    if len(run) >= 16:  # other starts: kept only if clearly text or compressed (cheap to tell)
        scored = [(d, _score(d)) for d in (b64decode(run[k:], cap) for k in (1, 2, 3))]
        d, sc = max(scored, key=lambda x: x[1])
        if sc >= 0.75:
            out.append((d, "base64", None))
    return out


@dataclass(frozen=True)
class Blobs:
    """Base64 and hex runs inside any text or bytes, each decoded when it gives data, not noise."""

    name: str = "blob"
    headerless: bool = True

    applies = always

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        out = []
        for n, run in enumerate(blob_runs(view.data, budget.limits.min_blob)):
            if n >= MAX_BLOBS_PER_VIEW:
                budget.note(f"{view.location}: more than {MAX_BLOBS_PER_VIEW} encoded blobs; "
                            "the rest not decoded")
                break
            for d, step, text in _b64_decodes(run, budget.cap):
                if d.data:
                    budget.decoded(view, d, step)
                    out.append(Child(d.data, step, step, is_text=text))
        return out
