"""Known tracker and telemetry hosts: which list names a host, and by which rule.

Lists, all read offline:
- adguard-tracking-protection: AdGuard's Tracking Protection filter, the only registry
  data that covers phone-maker telemetry; read from the npm package
  @adguard/dnr-rulesets (GPL-3.0), which embeds the filter's text. Only rules that
  name a whole host are used (``||host^``, optionally limited to resource types or
  third-party requests): a rule for one path or one site says nothing about the host.
- oem-telemetry: hosts named in public research on OEM analytics, curated in
  data/oem_telemetry.yaml with their sources.
- files a policy names (one host a line, or ``||host^`` rules).
A host no list names is reported as not known to be a tracker, which is not "allowed".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from telltale.destinations.datasets import Dataset, node_modules
from telltale.errors import ConfigError, SetupError

ADGUARD = "adguard-tracking-protection"
OEM = "oem-telemetry"
DEFAULT_LISTS = (ADGUARD, OEM)
_ADGUARD_FILE = Path("@adguard/dnr-rulesets/dist/filters/declarative/ruleset_3/ruleset_3.json")
_OEM_FILE = Path(__file__).with_name("data") / "oem_telemetry.yaml"

# Modifiers that narrow a host rule to some requests without making it about another host.
_HOST_MODIFIERS = {
    "third-party", "3p", "important", "all", "script", "image", "stylesheet", "xmlhttprequest",
    "xhr", "ping", "beacon", "other", "subdocument", "media", "font", "websocket", "object", "document",
}
_HOST = re.compile(r"^[a-z0-9*][a-z0-9*.-]*\.[a-z0-9*-]+$")


@dataclass(frozen=True)
class TrackerMatch:
    list: str  # the dataset's name
    rule: str  # the pattern that named the host
    note: str = ""  # curated lists: vendor and what the host does

    def __str__(self) -> str:
        return f"{self.list}: {self.rule}" + (f" ({self.note})" if self.note else "")


def _wild_regex(pattern: str) -> str:
    """`tracking.*.miui.com` -> the host or a subdomain of it, `*` spanning one or more characters."""
    body = ".+".join(re.escape(p) for p in pattern.split("*"))
    return rf"(?:^|\.){body}$"


@dataclass(frozen=True)
class HostList:
    """One list, compiled: exact names (matched with their subdomains) and wildcard patterns."""

    dataset: Dataset
    names: frozenset[str]
    wildcards: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()  # pattern -> note, for curated entries

    def __post_init__(self) -> None:
        # Wildcards are bucketed by the whole labels after their last `*` (tracking.*.miui.com
        # -> miui.com), so a host is tried only against the few that could match it.
        buckets: dict[str, list[tuple[str, re.Pattern]]] = {}
        for w in self.wildcards:
            tail = w.rsplit("*", 1)[1]
            key = tail.split(".", 1)[1] if "." in tail else ""
            buckets.setdefault(key, []).append((w, re.compile(_wild_regex(w))))
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_notes", dict(self.notes))

    def __len__(self) -> int:
        return len(self.names) + len(self.wildcards)

    def match(self, host: str) -> TrackerMatch | None:
        host = host.lower().rstrip(".")
        labels = host.split(".")
        suffixes = [".".join(labels[i:]) for i in range(len(labels))]
        for suffix in suffixes[:-1]:
            if suffix in self.names:
                return TrackerMatch(self.dataset.name, suffix, self._notes.get(suffix, ""))
        for key in (*suffixes, ""):
            for w, rx in self._buckets.get(key, ()):
                if rx.search(host):
                    return TrackerMatch(self.dataset.name, w, self._notes.get(w, ""))
        return None


@dataclass(frozen=True)
class TrackerDB:
    lists: tuple[HostList, ...]

    def match(self, host: str | None) -> tuple[TrackerMatch, ...]:
        """Every list that names the host (empty: no list knows it, which is not a clearance)."""
        if not host:
            return ()
        return tuple(m for lst in self.lists if (m := lst.match(host)) is not None)

    @property
    def datasets(self) -> tuple[Dataset, ...]:
        return tuple(lst.dataset for lst in self.lists)


def parse_host_rules(lines: Iterable[str]) -> tuple[set[str], set[str], set[str]]:
    """Whole-host rules of an adblock-syntax list (or plain host lines): (names, wildcards, exceptions)."""
    blocked: set[str] = set()
    excepted: set[str] = set()
    cancelled: set[str] = set()
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "!#[" or "##" in line or "#@#" in line or "#$#" in line or "#%#" in line:
            continue
        exception = line.startswith("@@")
        if exception:
            line = line[2:]
        rule, _, mods = line.partition("$")
        modifiers = {m.strip().lower() for m in mods.split(",")} if mods else set()
        if rule.startswith("||") and rule.endswith("^"):
            host = rule[2:-1].lower()
        elif "/" not in rule and "^" not in rule and "|" not in rule and not mods:
            host = rule.lower()  # a plain host line
        else:
            continue
        if not _HOST.match(host):
            continue
        if "badfilter" in modifiers:
            cancelled.add(host)
            continue
        if exception:
            if not modifiers:  # `@@||host^`: the list's authors say this host is not to be blocked
                excepted.add(host)
            continue
        if not modifiers <= _HOST_MODIFIERS:
            continue  # limited to some sites (domain=), rewritten (redirect=...): not about the host
        blocked.add(host)
    blocked -= cancelled | excepted
    names = {h for h in blocked if "*" not in h}
    wild = {h for h in blocked if "*" in h}
    return names, wild, excepted


def _header(raw: str, key: str) -> str:
    m = re.search(rf"^! {key}: *(.+)$", raw[:4000], re.M)
    return m.group(1).strip() if m else "unknown"


@lru_cache(maxsize=4)
def _adguard(path: Path, mtime: float) -> HostList:
    with open(path, encoding="utf-8") as fo:
        rules = json.load(fo)
    raw = rules[0]["metadata"]["rawFilterList"]
    pkg = json.loads((path.parents[4] / "package.json").read_text(encoding="utf-8"))
    names, wild, _ = parse_host_rules(raw.splitlines())
    ds = Dataset(ADGUARD, _header(raw, "Title"), "tracker list", _header(raw, "Version"),
                 _header(raw, "TimeUpdated")[:10], pkg.get("license", "GPL-3.0-only"),
                 f"npm {pkg['name']}@{pkg['version']}")
    return HostList(ds, frozenset(names), tuple(sorted(wild)))


def adguard(root: Path | None = None) -> HostList:
    path = node_modules(root) / _ADGUARD_FILE
    if not path.is_file():
        raise SetupError(f"{path}: AdGuard tracking filter not installed: run `telltale setup` (npm ci)")
    return _adguard(path, path.stat().st_mtime)


@lru_cache(maxsize=1)
def oem() -> HostList:
    doc = yaml.safe_load(_OEM_FILE.read_text(encoding="utf-8"))
    names, wild, notes = set(), set(), []
    for entry in doc["hosts"]:
        p = entry["pattern"].lower()
        (wild if "*" in p else names).add(p)
        notes.append((p, f"{entry['vendor']}: {entry['what']}; sources: {', '.join(entry['sources'])}"))
    ds = Dataset(OEM, doc["title"], "tracker list", doc["curated"], doc["curated"], doc["licence"],
                 "telltale/destinations/data/oem_telemetry.yaml")
    return HostList(ds, frozenset(names), tuple(sorted(wild)), tuple(notes))


def from_file(path: Path) -> HostList:
    """A user's list: one host a line, or adblock `||host^` rules."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read tracker list: {e.strerror}") from None
    names, wild, _ = parse_host_rules(text.splitlines())
    ds = Dataset(path.name, path.name, "tracker list", "local", "local", "as its owner says", str(path))
    return HostList(ds, frozenset(names), tuple(sorted(wild)))


def load(lists: Iterable[str] = DEFAULT_LISTS, files: Iterable[Path] = (),
         root: Path | None = None) -> TrackerDB:
    out = []
    for name in lists:
        if name == ADGUARD:
            out.append(adguard(root))
        elif name == OEM:
            out.append(oem())
        else:
            raise ConfigError(f"unknown tracker list {name!r} (known: {', '.join(DEFAULT_LISTS)})")
    out += [from_file(Path(f)) for f in files]
    return TrackerDB(tuple(out))
