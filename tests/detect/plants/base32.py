"""Plantings of the base32 decoder: RFC 4648 as encoders give it, and lowercase without padding."""

from __future__ import annotations

import base64

from tests.detect.plants import Plant

PLANTS = {
    "base32": Plant(base64.b32encode, ("base32",), "base32"),
    "base32_lower": Plant(lambda b: base64.b32encode(b).lower().rstrip(b"="), ("base32",), "base32"),
}
