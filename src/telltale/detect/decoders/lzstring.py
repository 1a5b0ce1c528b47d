"""LZ-string: the npm `lz-string` package's LZW streams, as analytics and session-replay SDKs send them.

Its four transports carry one bit stream: `compressToBase64` (6 bits a character, the
base64 alphabet, `=` padded), `compressToEncodedURIComponent` (the same with `-` for `/`,
no padding; a form or query may have turned its `+` into spaces), `compressToUTF16` (15
bits a character, offset by 32, ending in a space) and `compress` (16 bits a UTF-16 code
unit). The stream's codes are read least significant bit first; the text it decodes to
is JavaScript's (UTF-16 code units), given to the views as UTF-8.

The decompressor is written here rather than taken from PyPI: `lzstring` (1.0.4, 2018)
is unmaintained and its `decompressFromUTF16` fails on every input, and neither it nor
`lzstring-codec` (0.1.0, new, one author) can stop at an output cap; an LZW stream
grows its dictionary entries by one character a code, so a small crafted stream
expands quadratically. Here the output stops at `budget.cap` and the work at
`MAX_CODES` codes, each noted.

A stream is taken only whole: its end code must fall where the encoder puts it, in the
last character with zero bits after it (noise passes that about once in thousands), or,
cut short, only when it gave `MIN_CUT` characters of ASCII text first.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, Decoded, View

MAX_CODES = 1 << 21  # about 1-2 s of Python; a real payload of megabytes of JSON has a few hundred thousand
MAX_RUNS_PER_VIEW = 32
MIN_OUTPUT = 4
MIN_CUT = 64  # a stream cut short is kept (and its damage noted) only when it gave this much text

# A base64 or URI-component stream starts with code 0 or 1 (a first 8- or 16-bit character):
# 00xxxx or 10xxxx, A-P or g-v; and ends with the end code's last bit followed by zeros: its
# last character's two low bits are 0.
RUN64 = re.compile(rb"(?<![A-Za-z0-9+/_-])[A-Pg-v][A-Za-z0-9+/-]{10,}(?<=[AEIMQUYcgkosw048])={0,3}"
                   rb"(?![A-Za-z0-9+/=_-])")
WIDE = re.compile(rb"[\xe0-\xef][\x80-\xbf]{2}")  # a 3-byte UTF-8 character: most 15- or 16-bit units
_URI_TO_STD = bytes.maketrans(b"-", b"/")
_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-"
_FIRST = frozenset(bytes([c]) for c in b"ABCDEFGHIJKLMNOPghijklmnopqrstuv")
_LAST = frozenset(bytes([c]) for c in b"AEIMQUYcgkosw048")
_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))  # each byte's bits reversed


@dataclass(frozen=True)
class Lz:
    """What a stream decoded to, and how it ended: `whole` (its end code where the encoder puts it),
    `capped` (the output cap or `MAX_CODES`), or `error` (damage or a cut)."""

    text: str
    whole: bool = False
    capped: bool = False
    codes: int = 0
    error: str | None = None


def decompress_bits(stream: bytes, nbits: int, per_char: int, cap: int, max_codes: int = MAX_CODES) -> Lz:
    """LZ-string's `_decompress` over `nbits` bits of `stream` (first bit the most significant of
    its first byte), characters of `per_char` bits; at most `cap` characters of output."""
    t = stream.translate(_REV8)  # then a code of n bits at bit p is (little-endian int >> p) & mask
    frm = int.from_bytes
    if nbits < 4:
        return Lz("", error="too short")
    first = frm(t[:1], "little") & 3
    if first == 2:
        return Lz("", whole=True)
    if first == 3:
        return Lz("", error="bad first code")
    n = 8 if first == 0 else 16
    pos = 2 + n
    ch = chr((frm(t[0:(pos + 7) >> 3], "little") >> 2) & ((1 << n) - 1))
    dictionary = ["", "", "", ch]
    w = ch
    out = [ch]
    size = 1
    dict_size, num_bits, enlarge_in = 4, 3, 4
    codes = 0
    while True:
        if pos >= nbits:
            return Lz("".join(out), codes=codes, error="stream ends early (no end code)")
        end = pos + num_bits
        c = (frm(t[pos >> 3:(end + 7) >> 3], "little") >> (pos & 7)) & ((1 << num_bits) - 1)
        pos = end
        if c < 2:
            n = 8 if c == 0 else 16
            end = pos + n
            dictionary.append(chr((frm(t[pos >> 3:(end + 7) >> 3], "little") >> (pos & 7)) & ((1 << n) - 1)))
            pos = end
            c = dict_size
            dict_size += 1
            enlarge_in -= 1
        elif c == 2:
            rest = nbits - pos
            tail = 0
            if rest > 0:
                tail = (frm(t[pos >> 3:(nbits + 7) >> 3], "little") >> (pos & 7)) & ((1 << rest) - 1)
            # the encoder flushes 1 to `per_char` zero bits after the end code
            return Lz("".join(out), whole=1 <= rest <= per_char and tail == 0, codes=codes)
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1
        if c < dict_size:
            entry = dictionary[c]
        elif c == dict_size:
            entry = w + w[0]
        else:
            return Lz("".join(out), codes=codes, error=f"bad code {c}")
        out.append(entry)
        size += len(entry)
        dictionary.append(w + entry[0])
        dict_size += 1
        enlarge_in -= 1
        w = entry
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1
        codes += 1
        if size >= cap or codes >= max_codes:
            return Lz("".join(out)[:cap], capped=True, codes=codes)


def utf8(text: str) -> bytes:
    """JavaScript's string as UTF-8: surrogate pairs joined, a lone surrogate kept (as JSON leaves are)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        joined = text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
        return joined.encode("utf-8", "surrogatepass")


def _pack15(values: list[int]) -> bytes:
    """15-bit values as one bit stream, most significant bit first, zero-padded to a byte."""
    out = bytearray()
    for i in range(0, len(values), 1024):  # 1024 values are 1920 whole bytes
        bits = "".join(map("{:015b}".format, values[i:i + 1024]))
        bits += "0" * (-len(bits) % 8)
        out += int(bits, 2).to_bytes(len(bits) // 8, "big")
    return bytes(out)


def from_base64(run: bytes) -> tuple[bytes, int]:
    """The bit stream of `compressToBase64` or `compressToEncodedURIComponent` text: (bytes, bits)."""
    s = run.rstrip(b"=").translate(_URI_TO_STD)
    n = len(s) * 6
    try:
        return base64.b64decode(s + b"A" * (-len(s) % 4)), n
    except binascii.Error:
        return b"", 0


def from_utf16(text: str) -> tuple[bytes, int] | None:
    """The bit stream of `compressToUTF16` text (its final space dropped), or None if it cannot be one."""
    body = text[:-1] if text.endswith(" ") else text
    if not body or min(body) < " " or max(body) > "\u801f":
        return None
    return _pack15([ord(c) - 32 for c in body]), 15 * len(body)


def from_units(text: str) -> tuple[bytes, int]:
    """The bit stream of `compress` text: its UTF-16 code units, big-endian."""
    units = text.encode("utf-16-be", "surrogatepass")
    return units, 8 * len(units)


def decompress(stream: tuple[bytes, int], per_char: int, cap: int) -> tuple[Lz, Decoded]:
    data, nbits = stream
    lz = decompress_bits(data, nbits, per_char, cap)
    out = utf8(lz.text)
    capped = lz.capped or len(out) > cap
    error = None if lz.whole or capped else lz.error or "trailing data"
    return lz, Decoded(out[:cap], capped=capped, error=error)


_ASCII_TEXT = re.compile(r"[ -~\t\r\n]")


def _ascii_text(text: str) -> bool:
    """Nine in ten characters printable ASCII: what a cut stream of noise seldom gives."""
    sample = text[:512]
    return len(_ASCII_TEXT.findall(sample)) * 10 >= 9 * len(sample)


def _found(lz: Lz, d: Decoded) -> bool:
    """A stream worth a view: whole, or capped, or cut with text before the cut."""
    if len(d.data) < MIN_OUTPUT:
        return False
    if lz.whole or lz.capped:
        return True
    return len(lz.text) >= MIN_CUT and _ascii_text(lz.text)


def _starts_right(first: int, last: int, bits: int) -> bool:
    """A first unit whose top two bits are a first code (0 or 1), a last whose two low bits are 0."""
    return (first >> (bits - 2)) in (0, 2) and last & 3 == 0


def _runs_of(view: View) -> bytes:
    """The view, with a form's or query's spaces back to the "+" the stream meant."""
    data = view.data
    if b" " in data and view.chain[-1:] in (("query",), ("form",)):
        return data.replace(b" ", b"+")
    return data


@dataclass(frozen=True)
class LzString:
    """LZ-string streams in any text: base64 and URI-component runs, UTF-16 and raw-unit text."""

    name: str = "lz-string"
    headerless: bool = True

    def applies(self, view: View) -> bool:
        data = _runs_of(view)
        return RUN64.search(data) is not None or (len(data) >= 6 and WIDE.search(data) is not None)

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        out: list[Child] = []
        data = _runs_of(view)
        if (data.isalnum() or not data.strip(_RUN_CHARS)) and (
                data[:1] not in _FIRST or data.rstrip(b"=")[-1:] not in _LAST):
            return out  # one run (most candidates), which cannot start or end a stream
        for n, m in enumerate(RUN64.finditer(data)):
            if n >= MAX_RUNS_PER_VIEW:
                budget.note(f"{view.location}: more than {MAX_RUNS_PER_VIEW} lz-string candidates; "
                            "the rest not decoded")
                break
            lz, d = decompress(from_base64(m[0]), 6, budget.cap)
            if _found(lz, d):
                self._keep(view, budget, lz, d, "lz-string base64", out)
        if len(data) >= 6 and WIDE.search(data) is not None:
            self._wide(view, budget, out)
        return out

    def _wide(self, view: View, budget: Budget, out: list[Child]) -> None:
        """`compressToUTF16` text (ending in a space), else `compress` text (raw code units)."""
        try:
            text = view.data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return
        if text.endswith(" ") and len(text) >= 3:
            body = text[:-1]
            if _starts_right(ord(body[0]) - 32, ord(body[-1]) - 32, 15):
                stream = from_utf16(text)
                if stream is not None:
                    lz, d = decompress(stream, 15, budget.cap)
                    if _found(lz, d):
                        self._keep(view, budget, lz, d, "lz-string utf16", out)
                        return
        units = text.encode("utf-16-be", "surrogatepass")
        if len(units) >= 4 and _starts_right(units[0] << 8 | units[1], units[-1], 16):
            lz, d = decompress(from_units(text), 16, budget.cap)
            if _found(lz, d):
                self._keep(view, budget, lz, d, "lz-string", out)

    @staticmethod
    def _keep(view: View, budget: Budget, lz: Lz, d: Decoded, label: str, out: list[Child]) -> None:
        if lz.codes >= MAX_CODES:
            budget.note(f"{view.location}: {label} decoding stopped after {MAX_CODES} codes; "
                        "the part before was scanned")
        else:
            budget.decoded(view, d, label)
        out.append(Child(d.data, label, "lz-string"))
