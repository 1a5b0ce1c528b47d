"""Plantings of the LZ-string decoder: the npm `lz-string` package's four transports.

`compress_bits` is LZ-string's `_compress` (lz-string 1.5.0), written again as the test's oracle:
`tests/detect/data/lzstring_npm.json` holds what the npm package itself gives for a few values,
and `test_detect_odd_encodings` checks that this encoder gives the same text and the decoder the
input back.
"""

from __future__ import annotations

import json

from tests.detect.plants import Plant

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
URI = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$"


def _units(s: str) -> list[str]:
    """A Python string as JavaScript sees it: UTF-16 code units (an astral character is two)."""
    b = s.encode("utf-16-be", "surrogatepass")
    return [chr(b[i] << 8 | b[i + 1]) for i in range(0, len(b), 2)]


def compress_bits(s: str, per_char: int) -> list[int]:
    """The stream as characters of `per_char` bits (before the transport maps them)."""
    out: list[int] = []
    val = pos = 0

    def bit(b: int) -> None:
        nonlocal val, pos
        val = (val << 1) | b
        if pos == per_char - 1:
            out.append(val)
            val = pos = 0
        else:
            pos += 1

    def bits(value: int, n: int) -> None:
        for _ in range(n):
            bit(value & 1)
            value >>= 1

    dictionary: dict[str, int] = {}
    to_create: set[str] = set()
    w = ""
    enlarge_in, dict_size, num_bits = 2, 3, 2

    def emit_w() -> None:
        nonlocal enlarge_in, num_bits
        if w in to_create:
            code = ord(w[0])
            if code < 256:
                bits(0, num_bits)
                bits(code, 8)
            else:
                bits(1, num_bits)
                bits(code, 16)
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in, num_bits = 1 << num_bits, num_bits + 1
            to_create.discard(w)
        else:
            bits(dictionary[w], num_bits)
        enlarge_in -= 1
        if enlarge_in == 0:
            enlarge_in, num_bits = 1 << num_bits, num_bits + 1

    for c in _units(s):
        if c not in dictionary:
            dictionary[c] = dict_size
            dict_size += 1
            to_create.add(c)
        wc = w + c
        if wc in dictionary:
            w = wc
        else:
            emit_w()
            dictionary[wc] = dict_size
            dict_size += 1
            w = c
    if w:
        emit_w()
    bits(2, num_bits)
    while True:  # flush: at least one more bit, up to a whole character
        val <<= 1
        if pos == per_char - 1:
            out.append(val)
            break
        pos += 1
    return out


def compress_to_base64(s: str) -> str:
    res = "".join(B64[v] for v in compress_bits(s, 6))
    return res + "=" * (-len(res) % 4)  # as lz-string pads: "===" after a lone character


def compress_to_uri(s: str) -> str:
    return "".join(URI[v] for v in compress_bits(s, 6))


def compress_to_utf16(s: str) -> str:
    return "".join(chr(v + 32) for v in compress_bits(s, 15)) + " "


def compress(s: str) -> str:
    return "".join(chr(v) for v in compress_bits(s, 16))


def _text(b: bytes) -> str:
    return b.decode("utf-8")


PLANTS = {
    "lz_base64": Plant(lambda b: compress_to_base64(_text(b)).encode(), ("lz-string",), "lz-string",
                       text_only=True),
    "lz_uri": Plant(lambda b: compress_to_uri(_text(b)).encode(), ("lz-string",), "lz-string",
                    text_only=True),
    # in JSON, escaped: the UTF-16 text alone is found too, but inside other bytes only JSON marks it
    "lz_utf16_json": Plant(lambda b: json.dumps({"z": compress_to_utf16(_text(b))}).encode(),
                           ("json", "lz-string"), "lz-string", text_only=True),
}
