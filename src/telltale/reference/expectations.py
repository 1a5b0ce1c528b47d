"""Which requirements the leaky reference build must fail: beside the build, not in the features.

The features are regulatory text a privacy officer reads; what the lab's own leaky build
is expected to trip is the lab's business. `must_fail.yaml` maps a requirement id to
`always` or to the agent traits that make a device fail it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from telltale import yamlconfig
from telltale.errors import ConfigError

FILE = Path(__file__).with_name("must_fail.yaml")
TRAITS = frozenset({"proxy", "direct", "udp", "dns", "batched", "heartbeat",
                    "base64", "gzip+base64", "json", "xor"})


def parse(text: str, source: str) -> dict[str, frozenset[str] | None]:
    """Requirement id -> the traits that make it fail (None: always)."""
    data, positions = yamlconfig.compose(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a map of requirement ids to `always` or a list of traits")
    out: dict[str, frozenset[str] | None] = {}
    for req, when in data.items():
        line = positions.get((req,), 1)
        if when == "always":
            out[str(req)] = None
        elif isinstance(when, list) and when and set(map(str, when)) <= TRAITS:
            out[str(req)] = frozenset(map(str, when))
        else:
            raise ConfigError(f"{source}:{line}: {req}: `always` or a list of agent traits "
                              f"({', '.join(sorted(TRAITS))}), not {when!r}")
    return out


@lru_cache(maxsize=1)
def load() -> Mapping[str, frozenset[str] | None]:
    return parse(yamlconfig.read_text(FILE), str(FILE))


def must_fail(requirements: Iterable[str], traits: Iterable[str],
              table: Mapping[str, frozenset[str] | None] | None = None) -> bool:
    """Whether a device whose agent has `traits` must fail a scenario of these requirements."""
    table = load() if table is None else table
    have = set(traits)
    for req in requirements:
        if req in table:
            when = table[req]
            if when is None or when & have:
                return True
    return False
