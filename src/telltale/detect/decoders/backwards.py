"""Text encodings read backwards: base64, hex or %-escaped text that an SDK reversed before sending it.

Reversing keeps the characters of a run, so the runs are those `text.blob_runs` finds; a
run is read backwards only when that reading decodes to data (as `text.Blobs` decides),
and then given as a view of its own (step "reversed") that the leaf decoders and the
matcher read forwards ("reversed" then "base64"). Text with more %-escapes backwards
(`3A%`) than forwards is reversed whole. A view that is itself a reversal is not
reversed back.

Most views hold runs (identifiers in hex above all), and decoding each backwards would
double the blob decoders' work: a view is looked at only when one C search finds a sign
of reversal (`HINT`): a %-escape backwards, base64 padding in front of a run, hex whose
every second digit is the high digit of ASCII text or that ends in a compression magic
or a protobuf message's first key backwards, or a base64 run with both letter cases. A
run is then decoded only when its first characters can start data (`may_be_data`). So
hex of text that is not ASCII (UTF-8 of other scripts) is not read backwards.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, View
from telltale.detect.decoders.compression import sniff_compression
from telltale.detect.decoders.text import HEX_DIGITS, MAX_BLOBS_PER_VIEW, PCT, _b64_decodes, blob_runs

REV_PCT = re.compile(rb"[0-9A-Fa-f]{2}%")
_B64 = rb"A-Za-z0-9+/_-"
FRONT_PADDED = re.compile(rb"(?<![=%s])==?([%s]+)" % (_B64, _B64))
# hex read backwards, in a run of 16 digits or more (not a number's decimals): ASCII text (each
# byte's high digit, 2-7, comes second: 8 bytes of it in a row), or a run ending in a
# gzip/zlib/zstd magic or a protobuf message's first key (field 1 or 2) backwards
_REV_HEX = (rb"(?<![.0-9A-Za-z])(?=[0-9a-fA-F]{16})[0-9a-fA-F]*?(?:(?:[0-9a-f][2-7]){8}|(?:[0-9A-F][2-7]){8})"
            rb"|(?<![.0-9A-Za-z])[0-9a-fA-F]{12,}(?i:80b8f1|c987|ad87|1087|e587|dff25b82|80|a0|01|21)"
            rb"(?![0-9A-Za-z])")
HINT = re.compile(b"|".join((
    rb"[0-9A-Fa-f]{2}%",  # a %-escape backwards
    rb"(?<![=%s])==?[%s]{10}" % (_B64, _B64),  # base64 padding in front of a run
    _REV_HEX,
    rb"(?<![%s])(?=[%s]{12})(?=[%s]*?[a-z])(?=[%s]*?[A-Z])" % (_B64, _B64, _B64, _B64),  # base64, both cases
)))

# the first character of each base64 group of printable ASCII (bytes 0x20-0x7f): I to f
_B64_TEXT_LEADS = b"IJKLMNOPQRSTUVWXYZabcdef"
_TEXT_OR_SPACE = _B64_TEXT_LEADS + b"CD"
_URLSAFE = bytes.maketrans(b"-_", b"+/")
# the first key of a protobuf message: field 1 to 15, varint or length-delimited
_PB_KEYS = frozenset(f << 3 | w for f in range(1, 16) for w in (0, 2))


def _starts_data(head: bytes) -> bool:
    return sniff_compression(head) is not None or (len(head) > 1 and head[0] in _PB_KEYS)


def may_be_data(text: bytes) -> bool:
    """A cheap first look at a run read backwards (`text`, as its encoder wrote it): whether it
    can decode to ASCII text, a compressed stream or a protobuf message. Decoding tells."""
    if HEX_DIGITS.fullmatch(text) is not None:
        for t in (text,) if len(text) % 2 == 0 else (text[1:], text[:-1]):
            highs = t[0::2]  # of ASCII text: 2-7, and a few 0 (tab, newline)
            if len(highs.translate(None, b"234567")) * 10 <= len(highs):
                return True
            if _starts_data(bytes.fromhex(t[:8].decode())):
                return True
        return False
    leads = text[0::4]  # of ASCII text: I to f, and a few C or D (tab, newline, carriage return)
    if len(leads.translate(None, _B64_TEXT_LEADS)) * 10 <= len(leads) and not leads.strip(_TEXT_OR_SPACE):
        return True
    try:
        return _starts_data(base64.b64decode(text[:8].translate(_URLSAFE)))
    except binascii.Error:
        return False


@dataclass(frozen=True)
class Reversed:
    """Runs that decode to data when read backwards, and text whose %-escapes run backwards."""

    name: str = "reversed"
    headerless: bool = False  # a reversed run is text, not a decoded blob

    def applies(self, view: View) -> bool:
        return HINT.search(view.data) is not None and view.chain[-1:] != ("reversed",)

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        data = view.data
        if b"%" in data:
            backwards = len(REV_PCT.findall(data))
            if backwards and backwards >= len(PCT.findall(data)):
                return [Child(data[::-1], "reversed", "reversed", is_text=view.text)]
        out = []
        min_blob = budget.limits.min_blob
        runs = list(blob_runs(data, min_blob))
        if b"=" in data:  # padding in front: as forwards, it counts towards the run's length
            runs += [m[1] for m in FRONT_PADDED.finditer(data)
                     if len(m[1]) < min_blob <= len(m[0]) and m[1].lower() != m[1] != m[1].upper()]
        for n, run in enumerate(runs):
            if n >= MAX_BLOBS_PER_VIEW:
                break  # Blobs notes it for the same runs
            text = run[::-1]
            if may_be_data(text) and _b64_decodes(text, budget.cap):
                out.append(Child(text, "reversed", "reversed", is_text=True))
        return out
