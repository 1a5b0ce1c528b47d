"""The detector's values: what is looked for, what was found, what a scan gives back.

All frozen: a finding is evidence, and evidence must not change after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from telltale.errors import CaptureFileError, TelltaleError

Kind = Literal["canary", "identifier"]
MIN_VALUE_LEN = 4  # shorter values match by chance in any large body: no evidence


class CanaryError(TelltaleError, ValueError):
    """A canary or identifier given to the detector cannot be searched for."""


@dataclass(frozen=True)
class Canary:
    """A value that must not leave the device: a fresh token (canary) or a device identifier.

    Identifiers are also searched as md5/sha1/sha256 digests, since trackers
    hash them and still call the result "anonymous".
    """

    name: str
    value: str
    kind: Kind = "canary"

    def __post_init__(self) -> None:
        if self.kind not in ("canary", "identifier"):
            raise CanaryError(f"{self.name}: kind must be canary or identifier, not {self.kind!r}")
        if "\0" in self.value:  # the matcher's literals end at NUL: it would match a prefix
            raise CanaryError(f"{self.name}: a value with a NUL byte cannot be searched for")
        if len(self.value.encode()) < MIN_VALUE_LEN:
            raise CanaryError(
                f"{self.name}: value {self.value!r} is shorter than {MIN_VALUE_LEN} bytes; "
                "it would match by chance")

    @classmethod
    def parse(cls, spec: str, kind: Kind = "canary") -> Canary:
        """NAME=VALUE, as given on the command line."""
        name, sep, value = spec.partition("=")
        if not sep or not name.strip():
            raise CanaryError(f"{spec!r}: expected NAME=VALUE")
        return cls(name.strip(), value, kind)


@dataclass(frozen=True)
class Finding:
    """One canary seen in one place of one flow the device sent.

    `location` says where in words (``request.body gzip > json $.blob > base64``);
    `chain` is the decoding chain as step names, the last being how the value
    itself was encoded when it was not sent plainly (``base64``, ``sha256``...).
    """

    flow: str | int
    host: str
    server_ip: str | None
    canary: str
    location: str
    chain: tuple[str, ...]
    excerpt: str
    capture: str | None = None  # the capture file, when scanned from one

    def to_dict(self) -> dict:
        """JSON-ready form (the shape `telltale scan --format json` prints)."""
        return {
            "flow": self.flow,
            "canary": self.canary,
            "host": self.host,
            "server_ip": self.server_ip,
            "location": self.location,
            "chain": list(self.chain),
            "excerpt": self.excerpt,
            "capture": self.capture,
        }


@dataclass(frozen=True)
class ScanResult:
    """Everything one scan found, plus what it could not read and what it read only in part.

    `truncated` is never empty by accident: a capped decode (a decompression
    bomb, a too-deep chain) is named there, so "nothing found" is not claimed
    for bytes that were never looked at.
    """

    findings: tuple[Finding, ...] = ()
    errors: tuple[str | CaptureFileError, ...] = ()
    truncated: tuple[str, ...] = ()
    flows_scanned: int = 0
    # How, not what: a capture big enough for worker processes that was scanned in this process
    # instead, and why ("<path>: scanned serially: <why>"); the ids of the worker processes that
    # scanned spans (none: all of it was scanned here).
    serial: tuple[str, ...] = field(default=(), compare=False)
    workers: tuple[int, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "errors": [str(e) for e in self.errors],
            "truncated": list(self.truncated),
            "flows_scanned": self.flows_scanned,
        }


@dataclass(frozen=True)
class Limits:
    """Caps that keep one hostile flow from taking the machine: bytes, depth, views."""

    max_output: int = 16 << 20       # per decode (one decompression, one base64 blob)
    max_flow_bytes: int = 64 << 20   # all decoded views of one flow together
    max_depth: int = 8               # nested decoding steps
    max_views: int = 4096            # decoded views of one flow
    min_blob: int = 12               # shortest base64/hex run worth decoding (base64 twice of 8 bytes)
    excerpt_context: int = 24        # bytes each side of a match in the excerpt


@dataclass(frozen=True)
class Part:
    """One thing a device sent, before decoding: where it is and its bytes.

    `hints` carries what the message says about the bytes (content-encoding,
    content-type), used to pick decoders; the detector also sniffs.
    """

    location: str
    data: bytes
    content_encoding: str = ""
    content_type: str = ""
    kind: str = "raw"  # raw | url | headers | body


@dataclass(frozen=True)
class Sent:
    """Everything one flow (or HAR entry) sent, with where it went."""

    flow: str | int
    host: str
    server_ip: str | None
    parts: tuple[Part, ...] = field(default=())
    capture: str | None = None
