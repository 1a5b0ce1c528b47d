"""Data too short to hold a canary: nothing below it is worth a view."""

from __future__ import annotations

from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, View
from telltale.detect.model import MIN_VALUE_LEN


@dataclass(frozen=True)
class TooShort:
    """Fewer bytes than the shortest canary: claimed, and nothing yielded (no other decoder is asked)."""

    name: str = "short"
    headerless: bool = False

    def applies(self, view: View) -> bool:
        return len(view.data) < MIN_VALUE_LEN

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        return []
