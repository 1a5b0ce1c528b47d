"""Plantings of the text decoders: %-escapes, base64 (alone and inside a larger blob) and hex."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

from tests.detect.plants import Plant

PLANTS = {
    "url": Plant(lambda b: quote(b, safe="").encode(), ("url",), "urldecode"),
    "url_plus": Plant(lambda b: quote_plus(b, safe="").encode(), ("url",), "urldecode"),
    "url_twice": Plant(lambda b: quote(quote(b, safe=""), safe="").encode(), ("url",), "urldecode"),
    "base64": Plant(base64.b64encode, ("base64",), "blob"),
    "base64_unpadded": Plant(lambda b: base64.b64encode(b).rstrip(b"="), ("base64",), "blob"),
    "base64url": Plant(lambda b: base64.urlsafe_b64encode(b).rstrip(b"="), ("base64",), "blob"),
    # the value at each of the 3 alignments inside a larger blob (delimited as records are); the
    # third decodes to noise, not data: the matcher's base64 fragments find it undecoded
    "base64_in_blob_1": Plant(lambda b: base64.b64encode(b"<" + b + b">tail-bytes"), ("base64",), "blob"),
    "base64_in_blob_2": Plant(lambda b: base64.b64encode(b"<|" + b + b"|>tail"), ("base64",), "blob"),
    "base64_in_blob_3": Plant(lambda b: base64.urlsafe_b64encode(b"\xfb\xff\xfe" + b + b"\xff?"), ("base64",),
                              ""),
    "hex": Plant(lambda b: b.hex().encode(), ("hex",), "blob"),
    "hex_upper": Plant(lambda b: b.hex().upper().encode(), ("hex",), "blob"),
}
