"""Plantings of the base85 decoders: Adobe ascii85 alone and in other text.

Bare tokens (git's b85, Z85, ascii85 with no delimiters) have no boundary inside other text
(`<` and `>` are in their alphabets): they are tested in `test_detect_odd_encodings.py`.
"""

from __future__ import annotations

import base64

from tests.detect.plants import Plant

PLANTS = {
    "ascii85": Plant(lambda b: base64.a85encode(b, adobe=True), ("ascii85",), "base85"),
    "ascii85_in_text": Plant(lambda b: b"%!PS\ncurrentfile /ASCII85Decode filter\n"
                             + base64.a85encode(b, adobe=True, wrapcol=20) + b"\n", ("ascii85",), "ascii85"),
}
