"""Fresh canaries for each scenario: values that exist nowhere else, so any sighting is a leak.

A canary is unique per scenario (random tokens), so a value found in traffic
can only have come from what this scenario did on the device.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

_WORDS = ("amber", "basalt", "cobalt", "dahlia", "ember", "fjord", "garnet", "harbor",
          "indigo", "juniper", "kestrel", "lagoon", "marigold", "nebula", "orchid", "pebble")


@dataclass(frozen=True)
class ScenarioCanaries:
    """The unique values one scenario may type or visit."""

    token: str

    def __repr__(self) -> str:
        return f"Canaries({self.token})"

    @property
    def site(self) -> str:
        """A host that exists only for this scenario."""
        return f"tt-{self.token[:10]}.example.net"

    @property
    def page_path(self) -> str:
        return f"/read/{self.token[10:20]}"

    @property
    def url(self) -> str:
        return f"https://{self.site}{self.page_path}"

    @property
    def search_term(self) -> str:
        word = _WORDS[int(self.token[:2], 16) % len(_WORDS)]
        return f"{word} telltale {self.token[20:]}"

    def named(self) -> dict[str, str]:
        """NAME=VALUE pairs for the detector: whole values and their unique cores."""
        return {
            "visited_url": self.url,
            "visited_site": self.site,
            "visited_path": self.page_path,
            "search_term": self.search_term,
            "search_token": self.token[20:],
        }


def fresh() -> ScenarioCanaries:
    return ScenarioCanaries(secrets.token_hex(16))


def twin(c: ScenarioCanaries) -> ScenarioCanaries:
    """A second canary set of the same shape (every value as long as its twin's, the same search
    word), for the differential run: the bytes that move with the values can then be compared
    position by position."""
    return ScenarioCanaries(c.token[:2] + secrets.token_hex(15))


def twin_identifiers(identifiers: dict[str, str]) -> dict[str, str]:
    """Other identifiers of the same shape (digits for digits, hex for hex, letters for letters,
    separators kept): what a differential run gives a device whose identifiers the lab sets."""
    out = {}
    for name, value in identifiers.items():
        while True:
            new = "".join(_same_kind(ch) for ch in value)
            if new != value:
                break
        out[name] = new
    return out


def _same_kind(ch: str) -> str:
    if ch.isdigit():
        return secrets.choice("0123456789")
    if ch in "abcdef":
        return secrets.choice("0123456789abcdef")
    if ch in "ABCDEF":
        return secrets.choice("0123456789ABCDEF")
    if ch.isalpha():
        return secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ" if ch.isupper() else "abcdefghijklmnopqrstuvwxyz")
    return ch
