"""Plantings of the protobuf decoder: a field of a nested message."""

from __future__ import annotations

from tests.detect.plants import Plant


def pb_field(field: int, payload: bytes) -> bytes:
    """One protobuf length-delimited field."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)
    return varint(field << 3 | 2) + varint(len(payload)) + payload


PLANTS = {
    "protobuf": Plant(lambda b: pb_field(1, b"\x08\x96\x01") + pb_field(2, pb_field(5, b)), ("protobuf",),
                      "protobuf"),
}
