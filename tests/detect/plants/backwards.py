"""Plantings of the reversed decoder: base64, hex and %-escapes of a payload, sent backwards."""

from __future__ import annotations

import base64
from urllib.parse import quote

from tests.detect.plants import Plant

PLANTS = {
    "reversed_base64": Plant(lambda b: base64.b64encode(b)[::-1], ("reversed", "base64"), "reversed"),
    "reversed_hex": Plant(lambda b: b.hex().encode()[::-1], ("reversed", "hex"), "reversed"),
    # the payload's own "=" and "&" are escaped: a value with nothing to escape still has escapes around it
    "reversed_url": Plant(lambda b: quote(b"e=" + b + b"&t=1", safe="").encode()[::-1], ("reversed", "url"),
                          "reversed"),
}
