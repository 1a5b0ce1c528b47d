"""Multipart bodies (form-data, mixed): each part, with its own headers, as a whole message.

A part's body is whole data of its own type: what it declares (content-type,
content-encoding, a base64 transfer encoding) is kept for the decoders below it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, View
from telltale.detect.decoders.text import b64decode


@dataclass(frozen=True)
class MimePart:
    name: str
    headers: dict[str, str]
    body: bytes


def _boundary(content_type: str, data: bytes) -> bytes | None:
    m = re.search(r'boundary="?([^";,]+)"?', content_type, re.I)
    if m:
        return m.group(1).encode()
    if data.startswith(b"--"):
        line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
        if 2 < len(line) <= 72 and b" " not in line.strip():
            return line[2:].strip()
    return None


def multipart(data: bytes, content_type: str) -> list[MimePart] | None:
    """The parts of a multipart body (form-data or mixed); None if it is not one."""
    if not content_type.lower().startswith("multipart/") and not data.startswith(b"--"):
        return None
    b = _boundary(content_type, data)
    if not b:
        return None
    chunks = data.split(b"--" + b)
    if len(chunks) < 3:
        return None
    parts = []
    for i, chunk in enumerate(chunks[1:]):
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = chunk.partition(b"\n\n")
        if body.endswith(b"\r\n"):
            body = body[:-2]
        elif body.endswith(b"\n"):
            body = body[:-1]
        headers = {}
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        m = re.search(r'\bname="([^"]*)"', headers.get("content-disposition", ""))
        parts.append(MimePart(m.group(1) if m else str(i), headers, body))
    return parts


@dataclass(frozen=True)
class Multipart:
    """The parts of a multipart body, declared by its content-type or starting with a boundary."""

    name: str = "multipart"
    headerless: bool = True

    def applies(self, view: View) -> bool:
        return view.data.startswith(b"--") or view.content_type.lower().startswith("multipart/")

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        parts = multipart(view.data, view.content_type)
        if not parts:
            return None
        out = []
        for p in parts:
            body, transparent = p.body, True
            if p.headers.get("content-transfer-encoding", "").lower() == "base64":
                body = b64decode(b"".join(body.split()), budget.limits.max_output).data
                transparent = False
            out.append(Child(body, f"multipart {p.name}", "multipart", transparent,
                             p.headers.get("content-encoding", ""), p.headers.get("content-type", "")))
        return out
