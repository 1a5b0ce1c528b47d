"""Where the odd encodings are looked for: which views the leaf decoders of base32, LZ-string, text read
backwards and ascii85 blocks are asked about, and which fields of a structure are kept for them.

Nearly every view reaches the leaf decoders, most are identifiers and numbers, and a
regular expression costs about as much as Python's decoders spend on a small view: so
`OddLeaves` asks its decoders only about a view that one cheap look finds a sign in, and
an identifier, a word, a number or base64 costs a few byte operations; `Wholes` puts the
decoders that say what a whole view is (base85, latin1) in one registry entry.

A structural decoder (a URL, cookies, a JSON document, a form, a protobuf message) gives
its fields as slices of itself; after no hit the walk keeps only those that may hide
something (`text.may_hide`: a blob, an escape, binary; for JSON, the strings its `want`
picks). A base32 token, %-escapes read backwards, an ascii85 block or LZ-string's UTF-16
text are none of those. `reveal(decoder)` wraps a structural decoder: when its view has no
hit and a fast look (byte operations, or a search that starts at a literal character)
finds a sign of one in the view, each field that holds one (`FIELD_HINT`) is made a view
(no longer `structural`; still `transparent`: the parent's match covered its bytes), and a
JSON document's strings that `want` left out are taken when they hold one. A protobuf
message is only looked at for uppercase base32 (a search of binary costs too much).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from telltale.detect.decoders import backwards, base32
from telltale.detect.decoders._api import All, Budget, Child, Decoder, View, always, gather
from telltale.detect.decoders.structure import JSON_PLAIN, MAX_LEAVES, NEEDLESS_ESCAPE, json_leaves

# --- the leaf decoders, and whole views -------------------------------------------

_HEX = b"0123456789abcdefABCDEF"
_HEX_AND_NUMBER = _HEX + b".+-"
_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
_RUN = rb"A-Za-z0-9+/_-"
# a run of 10 or more (base32, base64 backwards, LZ-string) with a letter no hex has
LETTER_RUN = re.compile(rb"(?<![%s])(?=[%s]{10})[0-9a-fA-F+/_-]*+[G-Zg-z]" % (_RUN, _RUN))
HEX_RUN = re.compile(rb"[0-9a-fA-F]{16,}")
# the end of hex read backwards that starts a gzip/zlib/zstd stream or a protobuf message (field 1-2)
_REV_HEAD = tuple(h for m in (b"80b8f1", b"c987", b"ad87", b"1087", b"e587", b"dff25b82")
                  for h in (m, m.upper()))
_REV_HEAD_TAILS = frozenset(h[-2:] for h in _REV_HEAD)
_REV_KEY = frozenset((b"80", b"a0", b"A0", b"01", b"21"))
# binary: each byte as its class, so that one translation and a few finds tell what may be in it
_CLASSES = bytearray(b"." * 256)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-":
    _CLASSES[_c] = ord("a")
for _c in range(0xE0, 0xF0):
    _CLASSES[_c] = ord("E")  # the lead byte of a 3-byte UTF-8 character
for _c in range(0x80, 0xC0):
    _CLASSES[_c] = ord("c")  # a continuation byte
for _c in b"%<~":
    _CLASSES[_c] = _c
_CLASSES = bytes(_CLASSES)


def _high_digits_text(highs: bytes) -> bool:
    """Whether the high digits of hex bytes are those of ASCII text: 2-7, and a few 0 (tab, newline)."""
    return len(highs.translate(None, b"234567")) * 10 <= len(highs) and not highs.strip(b"0234567")


def hex_backwards(run: bytes) -> bool:
    """Whether hex digits (a whole view or a run) may be data written backwards: ASCII text (the high
    digit, 2-7, second in each pair), or the start of a compressed stream or a message at the end."""
    n = len(run)
    if n < 16:
        return False
    tail = run[-2:]
    if tail in _REV_KEY or (tail in _REV_HEAD_TAILS and run.endswith(_REV_HEAD)):
        return True
    if n % 2:  # a neighbour joined the run at one end
        return _high_digits_text(run[2::2]) or _high_digits_text(run[1:-1:2])
    return _high_digits_text(run[1::2])


TOKEN = 16


def _parts_for(data: bytes) -> int:
    """Which of `OddLeaves`' parts may find something in `data` (bits: 1 reversed, 2 base32,
    4 ascii85 blocks, 8 LZ-string; `TOKEN`: the view is one run, each part is asked at once,
    else by its own `applies`). A few byte operations for identifiers, words, numbers, base64
    and binary (most views), a search or two for text."""
    if len(data) < 10:
        return 0
    if data.isalnum():  # one run
        if not data.strip(_HEX):
            return 1 | TOKEN if hex_backwards(data) else 0  # hex: read backwards?
        if data.islower() or data.isupper():
            return 2 | TOKEN  # one letter case: base32
        return 9 | TOKEN  # both: base64 backwards, LZ-string
    if not data.strip(_HEX_AND_NUMBER):
        return 0  # a number, or hex with signs (a UUID): no run of 16
    if not data.strip(_B64_CHARS):  # base64 with its signs
        return 2 | TOKEN if data.islower() or data.isupper() else 9 | TOKEN
    if not data.isascii():  # binary, or text not in ASCII
        t = data.translate(_CLASSES)
        which = (15 if b"aaaaaaaaaa" in t else 4 if b"<~" in t else 0) | (8 if b"Ecc" in t else 0)
        if b"%" in t and backwards.REV_PCT.search(data) is not None:
            which |= 1
        return which
    if LETTER_RUN.search(data) is not None or b"<~" in data:
        return 15
    if b"%" in data and backwards.REV_PCT.search(data) is not None:
        return 1
    return 1 if any(hex_backwards(m[0]) for m in HEX_RUN.finditer(data)) else 0


@dataclass(frozen=True)
class OddLeaves(All):
    """Leaf decoders (`All`) asked only about a view that may hold what they read (`_parts_for`):
    `parts` are (reversed, base32, ascii85 blocks, LZ-string), in that order."""

    applies = always  # `children` looks, and gives nothing for most views

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        which = _parts_for(view.data)
        if not which:
            return []
        token = which & TOKEN
        out: list[Child] = []
        for i, (applies, children, headerless) in enumerate(self._plan):
            if which >> i & 1 and (token or applies is None or applies(view)):
                gather(out, children(view, budget), headerless)
        return out


_NUMBER = b"0123456789.+-eE"


@dataclass(frozen=True)
class Wholes:
    """The decoders that say what a whole view is, base85 and latin1 (`parts`, in that order): one
    registry entry, one call a view; a view goes to the one that may read it (base85 reads ASCII,
    latin1 a JSON string literal or text that is not ASCII), most views to neither after a few
    byte operations."""

    name: str
    parts: tuple[Decoder, Decoder]
    headerless: bool = False  # each part marks its own children

    applies = always

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        data = view.data
        base85, latin1 = self.parts
        if data.isascii():
            if data[:1] == b'"' and latin1.applies(view):
                kids = latin1.children(view, budget)
                if kids is not None:
                    for c in kids:
                        c.headerless = latin1.headerless
                    return kids
            if len(data) < 10 or data.isalnum() or not data.strip(_NUMBER) or not base85.applies(view):
                return None
            return base85.children(view, budget)
        if not latin1.applies(view):
            return None
        kids = latin1.children(view, budget)
        for c in kids or ():
            c.headerless = latin1.headerless
        return kids


# --- fields kept for them ---------------------------------------------------------

# In a field (a small slice): base32 that is no word, %-escapes backwards, an ascii85 block, or
# LZ-string's UTF-16 text (not ASCII; it ends in a space).
FIELD_HINT = re.compile(b"|".join((base32.FIELD_HINT.pattern, backwards.REV_PCT.pattern, rb"<~",
                                   rb"(?<=[\x80-\xbf]) \Z")))
# In a parent, fast (byte operations, or a search that starts at a literal character): base32 as a
# whole JSON string, or as a whole value or path segment of a URL, form or cookie header (lowercase
# with a digit, as in a field); in a protobuf message, uppercase base32 anywhere.
_B32_UPPER = bytes(c if c in b'"=/' else 0x41 if (65 <= c <= 90 or 50 <= c <= 55) else 0x2E
                   for c in range(256))
_B32_LOWER = bytes(c if c in b'"=/' else 0x61 if 97 <= c <= 122 else 0x32 if 50 <= c <= 55 else 0x2E
                   for c in range(256))
_JSON_LOWER = re.compile(rb'"(?=[a2]{12})a*+2')
_FIELD_B32 = re.compile(rb"[=/](?:[A-Z2-7]{12}|(?=[a-z2-7]{12})[a-z]*+[2-7])")  # small parents: a search
_REV_PCT_FAST = re.compile(rb"%(?<=[0-9A-Fa-f]{2}%)")
_UTF16_END = re.compile(rb'(?<=[\x80-\xbf]) "')


def _literal_signs(data: bytes) -> bool:
    return b"<~" in data or (b"%" in data and _REV_PCT_FAST.search(data) is not None)


def _json_signs(data: bytes) -> bool:
    if _literal_signs(data):
        return True
    if b'"' + b"A" * 12 in data.translate(_B32_UPPER) or _JSON_LOWER.search(data.translate(_B32_LOWER)):
        return True  # (a large document: translations and literal-led searches beat a search of it)
    return not data.isascii() and _UTF16_END.search(data) is not None


def _field_signs(data: bytes) -> bool:
    return _literal_signs(data) or _FIELD_B32.search(data) is not None


def _message_signs(data: bytes) -> bool:
    """A protobuf message's: binary, so byte operations, no search of it."""
    return _literal_signs(data) or b"A" * 12 in data.translate(_B32_UPPER)


def _hinted(v: str) -> bool:
    return len(v) >= 4 and FIELD_HINT.search(v.encode("utf-8", "surrogatepass")) is not None


@dataclass(frozen=True)
class Reveal:
    """A structural decoder whose fields are also kept when they hold an odd encoding."""

    inner: Decoder
    signs: Callable[[bytes], bool] = field(default=_message_signs, compare=False)
    name: str = ""
    headerless: bool = False
    parts: tuple[Decoder, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.inner.name}+odd")
        object.__setattr__(self, "headerless", self.inner.headerless)
        object.__setattr__(self, "parts", (self.inner,))
        object.__setattr__(self, "_inner_children", self.inner.children)
        if getattr(type(self), "applies", None) is not always:
            object.__setattr__(self, "applies", self.inner.applies)  # bound once: no call in between

    def applies(self, view: View) -> bool:
        return self.inner.applies(view)

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        kids = self._inner_children(view, budget)  # type: ignore[attr-defined]
        if kids is None or view.hit or not self.signs(view.data):
            return kids  # with a hit every field is matched and expanded anyway
        for c in kids:
            if c.structural and c.transparent and FIELD_HINT.search(c.data) is not None:
                c.structural = False
        return kids + self.more(view, kids)

    def more(self, view: View, kids: list[Child]) -> list[Child]:
        return []


@dataclass(frozen=True)
class RevealAlways(Reveal):
    """`Reveal` of a decoder that looks at every view (`applies = always`): not asked either."""

    applies = always


@dataclass(frozen=True)
class RevealJson(Reveal):
    """`Reveal` of the JSON decoder: also the strings it did not yield, when they hold an odd encoding."""

    def more(self, view: View, kids: list[Child]) -> list[Child]:
        data = view.data
        leaves = json_leaves(data, MAX_LEAVES, _hinted)
        if not leaves:
            return []
        have = {c.label for c in kids}
        escapes = b"\\" in data
        odd = escapes and NEEDLESS_ESCAPE.search(data) is not None
        return [Child(v.encode("utf-8", "surrogatepass"), f"json {p}", "json",
                      transparent=not odd and (not escapes or JSON_PLAIN.fullmatch(v) is not None))
                for p, v in leaves if f"json {p}" not in have]


def reveal(decoder: Decoder) -> Decoder:
    """`decoder` with its fields that hold an odd encoding kept."""
    if decoder.name == "json":
        return RevealJson(decoder, _json_signs)
    if getattr(type(decoder), "applies", None) is always:
        return RevealAlways(decoder, _message_signs)  # protobuf
    return Reveal(decoder, _field_signs)
