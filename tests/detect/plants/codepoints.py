"""Plantings of the latin1 decoder: gzip bytes as a JSON string's code points, one a byte.

What an escaping serializer sends for a binary string (`"\\u001f\\u008b..."`). The other
forms (`JSON.stringify` and UTF-8, a body that is one JSON string, the UTF-8 text with no
JSON around it, zlib, raw deflate, protobuf) are tested in `test_detect_odd_encodings.py`:
each planting here is scanned in random chains of eight steps at most, and this one takes
three.
"""

from __future__ import annotations

import gzip
import json

from tests.detect.plants import Plant


def in_json(data: bytes, ascii_only: bool = True) -> bytes:
    """The bytes as JavaScript's binary string, in a JSON document (UTF-8)."""
    return json.dumps({"v": 2, "d": data.decode("latin-1")}, ensure_ascii=ascii_only).encode("utf-8")


PLANTS = {
    "latin1_gzip": Plant(lambda b: in_json(gzip.compress(b)), ("json", "latin1", "gzip"), "latin1"),
}
