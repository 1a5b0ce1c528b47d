"""Protobuf: a message read without its schema, as the length-delimited fields it holds.

A message of strings can pass for text, and text for a message: text that
parses as one is read both ways (its fields, and what the leaf decoders find in
it as text).
"""

from __future__ import annotations

from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, Decoder, View, always


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("bad varint")
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def protobuf_fields(data: bytes, max_fields: int = 4096) -> list[tuple[int, bytes]] | None:
    """(field number, bytes) of each length-delimited field, if all of `data` is one message."""
    out: list[tuple[int, bytes]] = []
    i, n, seen = 0, len(data), 0
    try:
        while i < n:
            key = data[i]
            if key < 0x80:  # a one-byte key (most): no call
                i += 1
            else:
                key, i = _varint(data, i)
            field, wire = key >> 3, key & 7
            if field == 0 or field > 536870911:
                return None
            if wire == 0:
                if i < n and data[i] < 0x80:
                    i += 1
                else:
                    _, i = _varint(data, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                if i < n and data[i] < 0x80:
                    length = data[i]
                    i += 1
                else:
                    length, i = _varint(data, i)
                if i + length > n:
                    return None
                out.append((field, data[i:i + length]))
                i += length
            else:
                return None
            seen += 1
            if seen > max_fields:
                return None
    except ValueError:
        return None
    return out if i == n and seen else None


@dataclass(frozen=True)
class Protobuf:
    """The length-delimited fields of a whole message; for text, also what `text_too` finds in it."""

    text_too: Decoder  # the leaf decoders, for text that also parses as a message
    name: str = "protobuf"
    headerless: bool = False

    applies = always

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        pb = protobuf_fields(view.data)
        if not pb:
            return None
        fields = [Child(v, f"protobuf {n}", "protobuf", transparent=True, structural=True) for n, v in pb]
        if view.text:
            return fields + (self.text_too.children(view, budget) or [])
        return fields
