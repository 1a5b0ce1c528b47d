"""Binary carried as text: bytes put in a JSON string one code point each (U+0000..U+00FF).

A JavaScript SDK that gzips, deflates or encodes protobuf into a "binary string" and
sends it in JSON gives `"\\u001f\\u008b\\b\\u0000..."` (escaped), or with `JSON.stringify`
and UTF-8 the bytes 0x80-0xFF as two bytes each (`1f c2 8b 08 00`); the JSON decoder's
leaf is then that UTF-8 text. The same string may be the whole body: a JSON string
literal (`xhr.send(JSON.stringify(binaryString))`), or its UTF-8 text with no JSON
around it (`xhr.send(binaryString)`).

The text is encoded back to latin-1 (one byte a code point) only when it can be (every
code point at most U+00FF) and some code point is U+0080 or above (else the bytes are the
text's own and the other decoders see them already), and kept only when it is binary data
another decoder reads: a compression magic, a whole protobuf message, or a whole raw
deflate stream. Tried on a JSON leaf, a view that is one JSON string literal, and a view
that starts with a compression magic as UTF-8 of code points.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, View
from telltale.detect.decoders.compression import guess_headerless, sniff_compression
from telltale.detect.decoders.protobuf import protobuf_fields

TWO_BYTE = (b"\xc2", b"\xc3")  # UTF-8 lead bytes of U+0080..U+00FF
# gzip (1f 8b), zlib (78 9c / 78 da), zstd (28 b5) as UTF-8 of code points: the second byte doubled
MAGIC_AS_UTF8 = (b"\x1f\xc2\x8b", b"x\xc2\x9c", b"x\xc3\x9a", b"(\xc2\xb5")
GUESS_CAP = 1 << 16  # raw deflate is only checked to be one whole stream here; the view decodes it


def _literal(data: bytes) -> bool:
    """Whether `data` may be one JSON string literal."""
    return data[:1] == b'"' and data.rstrip()[-1:] == b'"' and len(data) > 2


@dataclass(frozen=True)
class Latin1:
    """A JSON string's (or a body's) code points as the bytes they stand for, when those are binary data."""

    name: str = "latin1"
    headerless: bool = True  # the bytes are whole data: raw deflate with no header may be in them

    def applies(self, view: View) -> bool:
        data = view.data
        if data.isascii():  # most views: only an escaped JSON string literal
            return data[:1] == b'"' and b"\\u00" in data and _literal(data)
        if data[:1] == b'"':
            return _literal(data) and (b"\xc2" in data or b"\xc3" in data)
        if view.chain and view.chain[-1] == "json":
            return b"\xc2" in data or b"\xc3" in data
        return data.startswith(MAGIC_AS_UTF8)

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        text = None
        if _literal(view.data):
            try:
                text = json.loads(view.data)
            except (ValueError, RecursionError):
                pass
        try:
            if not isinstance(text, str):
                text = view.data.decode("utf-8")
            raw = text.encode("latin-1")
        except (UnicodeDecodeError, UnicodeEncodeError):
            return None  # not UTF-8, or a code point above U+00FF: text, not bytes
        if raw.isascii():
            return None  # the bytes are the text's own: the other decoders see them
        if sniff_compression(raw) is not None or protobuf_fields(raw):
            return [Child(raw, "latin1", "latin1")]
        if len(raw) >= 8 and guess_headerless(raw, min(budget.cap, GUESS_CAP), brotli=False) is not None:
            # binary for sure: the headerless guess, which skips text, must see it
            return [Child(raw, "latin1", "latin1", is_text=False)]
        return None
