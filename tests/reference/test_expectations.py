"""The reference build's expectations live beside it (reference/must_fail.yaml), and each one
names a requirement the features really have; the features carry no lab tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from telltale.errors import ConfigError
from telltale.reference import expectations

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> set[str]:
    ids = set()
    for f in (ROOT / "features").rglob("*.feature"):
        text = f.read_text()
        assert "@selftest" not in text, f"{f}: lab expectations belong in reference/must_fail.yaml"
        ids |= {t.split(":", 1)[1] for t in text.split() if t.startswith("@requirement:")}
    return ids


def test_every_expectation_names_a_requirement_of_the_features():
    table = expectations.load()
    assert table, "the reference build must be expected to fail something"
    assert set(table) <= _requirements()


def test_always_and_traits():
    table = expectations.parse("A-1: always\nB-2: [udp, heartbeat]\n", "t.yaml")
    assert expectations.must_fail(["A-1"], ["proxy"], table)
    assert expectations.must_fail(["B-2"], ["udp"], table)
    assert not expectations.must_fail(["B-2"], ["proxy", "batched"], table)
    assert not expectations.must_fail(["C-3"], ["udp"], table)


@pytest.mark.parametrize("text", ["A-1: sometimes\n", "A-1: [teleport]\n", "A-1: []\n", "- A-1\n"])
def test_a_bad_expectation_is_refused_with_its_line(text):
    with pytest.raises(ConfigError, match=r"t\.yaml:1:"):
        expectations.parse(text, "t.yaml")
