"""Plantings of the compression decoders: streams with magic bytes, with none, inside a record."""

from __future__ import annotations

import gzip
import zlib

import brotlicffi
import zstandard

from tests.detect.plants import Plant


def _raw_deflate(b: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()


def _gzip_in_record(b: bytes) -> bytes:
    """A gzip stream inside a binary record: a length-prefixed frame, a trailing checksum byte."""
    z = gzip.compress(b)
    return b"\x00\x00" + len(z).to_bytes(4, "big") + b"\x01" + z + b"\x7f"


PLANTS = {
    "gzip": Plant(gzip.compress, ("gzip",), "compressed", content_encoding="gzip"),
    "zlib": Plant(zlib.compress, ("deflate",), "compressed", content_encoding="deflate"),
    "raw_deflate": Plant(_raw_deflate, ("deflate",), "headerless", content_encoding="deflate"),
    "brotli": Plant(brotlicffi.compress, ("br",), "headerless", content_encoding="br"),
    "zstd": Plant(lambda b: zstandard.ZstdCompressor().compress(b), ("zstd",), "compressed",
                  content_encoding="zstd"),
    "gzip_in_record": Plant(_gzip_in_record, ("gzip",), "embedded-stream"),
}
