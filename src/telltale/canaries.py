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
