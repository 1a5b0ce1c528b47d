"""A device's evidence files as a host lists them and a run fetches them: each with its size and
the SHA-256 of exactly those bytes, so a file that is still growing is fetched and checked as
the prefix the host vouched for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from telltale.manifest import sha256_file


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: str

    def to_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict) -> FileEntry:
        return cls(str(d["name"]), int(d["size"]), str(d["sha256"]))


def entry(path: Path) -> FileEntry:
    size = path.stat().st_size
    return FileEntry(path.name, size, sha256_file(path, size))


def device_files(folder: Path, device: str) -> list[FileEntry]:
    """Every evidence file of one device in a captures folder (its flows, events, packet record,
    boundary proof), by name."""
    return [entry(p) for p in sorted(folder.glob(f"{device}-*")) if p.is_file()]


def read_range(path: Path, start: int, end: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(max(0, end - start))
