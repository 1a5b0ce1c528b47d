"""Base85: Adobe ascii85 (`<~ ... ~>` or bare), RFC 1924 / git's and Python's b85, and ZeroMQ's Z85.

Five characters carry four bytes. The alphabets cover most of printable ASCII, so a bare
token could be almost any word, date or URL: only plausible ones are tried, and each
only as far as it looks like data.

- Adobe's `<~ ... ~>` anywhere (whitespace inside ignored, `z` for four zero bytes):
  a view that is one block (`Base85`), or blocks inside other text (`Ascii85Blocks`, a
  leaf decoder).
- A view that is one bare token (a JSON string, a query or form value, a body, a decoded
  blob) of `MIN_TOKEN` characters or more, holding a letter and a character that base64
  does not use (so no base64, hex, number or word; b85 of 8 bytes of text has none one
  time in seven, of 16 bytes one in seventy, and is then missed): tried in each alphabet
  that holds all of it (Z85 only at a whole number of groups, as its encoder makes). A
  bare token inside longer text is not looked for.

A token's first `PREFIX` characters are decoded first; it is decoded whole only when they
give the start of data (text, a compressed stream's magic, a message's first field), and
kept only when all of it is data (text, a compressed stream, a message). Decoding is
capped at `budget.cap` bytes, and at `MAX_CANDIDATES` Adobe blocks a view.

`Base85` says what a whole view is, so it comes before the form decoder: the alphabets
hold `=` and `&`, and a token can pass for a form. What it decodes, the leaf decoders
(`text_too`) read as well, so a token taken for base85 by mistake hides nothing.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, Decoded, Decoder, View, looks_text
from telltale.detect.decoders.compression import embedded_streams, guess_headerless, sniff_compression
from telltale.detect.decoders.protobuf import protobuf_fields

A85 = bytes(range(0x21, 0x76))  # "!" .. "u"
B85 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
Z85 = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
BASE64ISH = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/=_-"
MIN_TOKEN = 10  # 8 bytes
PREFIX = 10  # characters, 8 bytes
MAX_CANDIDATES = 16
WHITESPACE = b" \t\n\r\x0b\x0c"


def _table(alphabet: bytes) -> bytes:
    t = bytearray(b"\xff" * 256)
    for i, c in enumerate(alphabet):
        t[c] = i
    return bytes(t)


# (step, the characters a token of it may hold, digit table); ascii85 first: Adobe's is seen most
ALPHABETS = (("ascii85", A85 + b"z", _table(A85)), ("base85", B85, _table(B85)), ("z85", Z85, _table(Z85)))
_A85_TABLE = ALPHABETS[0][2]

ADOBE = re.compile(rb"<~([!-uz \t\n\r\x0b\x0c]*)~>")
# a view that is one token holding a letter (not a number) and a character base64 does not use
TOKEN = re.compile(rb"(?=[!-~]{%d,}\Z)(?=[^A-Za-z]*+[A-Za-z])[0-9A-Za-z+/=_-]*+[!-*,.:;<>?@\[-^`{-~]"
                   % MIN_TOKEN)


def decode85(data: bytes, table: bytes, cap: int) -> Decoded:
    """Groups of 5 digits of `table`'s alphabet, big-endian; a last partial group as b85 pads it.

    Stops at the first character outside the alphabet or group over 2**32 - 1 (an error,
    with what came before).
    """
    limit = cap // 4 * 5
    capped = len(data) > limit
    vals = data[:limit].translate(table)
    error = None
    bad = vals.find(b"\xff")
    if bad >= 0:
        vals, error = vals[:bad], "a character outside the alphabet"
    tail = len(vals) % 5
    if tail == 1:
        vals, error = vals[:-1], error or "a lone character at the end"
        tail = 0
    if tail:
        vals += b"\x54" * (5 - tail)  # the highest digit: what b85 pads with
    groups = [a * 52200625 + b * 614125 + c * 7225 + d * 85 + e
              for a, b, c, d, e in zip(*(vals[i::5] for i in range(5)), strict=True)]
    if groups and max(groups) > 0xFFFFFFFF:
        cut = next(i for i, g in enumerate(groups) if g > 0xFFFFFFFF)
        groups, tail, error = groups[:cut], 0, "a group over 2**32"
    out = struct.pack(f">{len(groups)}I", *groups)
    if tail:
        out = out[: len(out) - (5 - tail)]
    return Decoded(out, capped=capped and error is None, error=error)


def a85decode(body: bytes, cap: int) -> Decoded:
    """Adobe's: whitespace ignored, `z` for a group of zeros."""
    body = body.translate(None, WHITESPACE)
    if b"z" in body:
        body = body.replace(b"z", b"!!!!!")
    return decode85(body, _A85_TABLE, cap)


def _text_start(p: bytes) -> bool:
    """Whether `p` starts text: UTF-8 (a character cut at the end forgiven), few control bytes."""
    try:
        p.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason != "unexpected end of data":
            return False
    control = sum(b < 32 and b not in (9, 10, 13) for b in p)
    return control * 20 <= len(p)


_PB_KEYS = frozenset(f << 3 | w for f in range(1, 16) for w in (0, 2))


def _message_start(p: bytes) -> bool:
    """Whether `p` starts a protobuf message: a first key of field 1 to 15, varint or length-delimited."""
    return len(p) > 1 and p[0] in _PB_KEYS


def _starts_data(p: bytes) -> bool:
    return bool(p) and (sniff_compression(p) is not None or _text_start(p) or _message_start(p))


def _data(d: Decoded) -> bool:
    """All of a decode is data: `text._plausible` without its benefit of the doubt (a base64 run or
    JSON somewhere in binary), which noise decoded from a mistaken token gets too often."""
    data = d.data
    if d.error or len(data) < 4:
        return False
    if d.capped or sniff_compression(data) is not None or looks_text(data):
        return True
    fields = protobuf_fields(data)
    if fields and len(fields) >= 2:  # one field is what a few random bytes parse as
        return True
    return bool(embedded_streams(data)) or guess_headerless(data, 1 << 16, brotli=False) is not None


def _try(token: bytes, table: bytes, cap: int) -> Decoded | None:
    """The token decoded when its start and then all of it give data; else None."""
    if len(token) > PREFIX and not _starts_data(decode85(token[:PREFIX], table, cap).data):
        return None
    d = decode85(token, table, cap)
    return d if _data(d) else None


def adobe_blocks(view: View, budget: Budget) -> list[Child]:
    out: list[Child] = []
    for m in ADOBE.finditer(view.data):
        d = a85decode(m[1], budget.cap)
        if len(d.data) >= 4:
            budget.decoded(view, d, "ascii85")
            out.append(Child(d.data, "ascii85", "ascii85", headerless=True))
            if len(out) >= MAX_CANDIDATES:
                budget.note(f"{view.location}: more than {MAX_CANDIDATES} ascii85 blocks; "
                            "the rest not decoded")
                break
    return out


@dataclass(frozen=True)
class Base85:
    """A view that is one Adobe ascii85 block, or one bare ascii85, b85 or Z85 token of data; the leaf
    decoders' children of it too."""

    text_too: Decoder  # the leaf decoders
    name: str = "base85"
    headerless: bool = False  # its own children are marked (whole data); the leaf decoders' each by theirs

    def applies(self, view: View) -> bool:
        data = view.data
        if len(data) < MIN_TOKEN or data.isalnum():  # short, or an identifier or word: no odd character
            return False
        return TOKEN.match(data) is not None or data.startswith(b"<~")

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        data = view.data
        if data.startswith(b"<~") and data.rstrip().endswith(b"~>") and ADOBE.fullmatch(data.rstrip()):
            return adobe_blocks(view, budget) or None  # (the leaf decoders would find the same block)
        if TOKEN.match(data) is None:
            return None
        for step, chars, table in ALPHABETS:
            if data.translate(None, chars):
                continue
            token = data.replace(b"z", b"!!!!!") if step == "ascii85" and b"z" in data else data
            if len(token) % 5 == 1 or (step == "z85" and len(token) % 5):
                continue  # no encoder leaves one character over; Z85's leaves none
            d = _try(token, table, budget.cap)
            if d is not None:
                budget.decoded(view, d, step)
                kids = [Child(d.data, step, step, headerless=True)]
                return kids + (self.text_too.children(view, budget) or [])
        return None


@dataclass(frozen=True)
class Ascii85Blocks:
    """Adobe's `<~ ... ~>` blocks inside other text (a PostScript or PDF stream, a log line)."""

    name: str = "ascii85"
    headerless: bool = True

    def applies(self, view: View) -> bool:
        return b"<~" in view.data

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        return adobe_blocks(view, budget)
