"""Provenance of the offline data a verdict rests on: what, which version, whose licence.

A regulator re-running the analysis must be able to get the very same data, so every
answer names the dataset (and its date) it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from telltale import paths


@dataclass(frozen=True)
class Dataset:
    name: str  # short id shown in tables: "adguard-tracking-protection", "dbip-country-lite"
    title: str
    kind: str  # "tracker list", "location" (where servers are), "registry" (who registered them)
    version: str
    date: str  # ISO date of the data itself, not of the install
    licence: str
    origin: str  # the registry package (or file) it was read from
    attribution: str = ""  # the credit line its licence asks for, shown wherever its answers are

    def line(self) -> str:
        return (f"{self.name}: {self.title} {self.version} "
                f"({self.date}; {self.kind}; {self.licence}; {self.origin})")


def node_modules(root: Path | None = None) -> Path:
    """The checkout's node_modules (`telltale setup` runs `npm ci` there): data is read, never fetched."""
    return (root or paths.find_root()) / "node_modules"


def data_lines(datasets: Iterable[Dataset]) -> str:
    """The `data:` block under a table: one line a dataset, then each credit its licence asks for."""
    datasets = tuple(datasets)
    credits = dict.fromkeys(d.attribution for d in datasets if d.attribution)
    return "data: " + "\n      ".join([d.line() for d in datasets] + list(credits))
