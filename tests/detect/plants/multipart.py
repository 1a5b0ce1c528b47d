"""Plantings of the multipart decoder: a file part of a form-data upload."""

from __future__ import annotations

from tests.detect.plants import Plant


def _multipart(b: bytes) -> bytes:
    return (b"--XyZb0undary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            b"--XyZb0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + b + b"\r\n--XyZb0undary--\r\n")


PLANTS = {
    "multipart": Plant(_multipart, ("multipart",), "multipart"),
}
