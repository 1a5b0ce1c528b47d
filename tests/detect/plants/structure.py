"""Plantings of the structure decoders: a JSON document, a form, JSON inside other text."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

from tests.detect.plants import Plant


def _json_escape_all(b: bytes) -> bytes:
    s = "".join(f"\\u{ord(c):04x}" if c.isalnum() and i % 2 else ("\\/" if c == "/" else json.dumps(c)[1:-1])
                for i, c in enumerate(b.decode()))
    return b'{"v": "' + s.encode() + b'"}'


def _json_in_text(b: bytes) -> bytes:
    """A JSON object in a log line, its slashes and quotes escaped (as a JSON string inside a string)."""
    s = json.dumps(b.decode())[1:-1].replace("/", "\\/")
    return b'ev=nav at 10:00 data={"n": "a \\"b\\"", "u": "' + s.encode() + b'"} end'


PLANTS = {
    "json_escaped": Plant(_json_escape_all, ("json",), "json", text_only=True),
    "json_field": Plant(lambda b: json.dumps({"a": [1, {"name": b.decode()}]}).encode(), ("json",), "json",
                        text_only=True),
    "form": Plant(lambda b: b"a=1&q=" + quote_plus(b).encode() + b"&z=", ("form",), "form", text_only=True),
    "json_in_text": Plant(_json_in_text, ("json",), "escaped-json", text_only=True),
}
