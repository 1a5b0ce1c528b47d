"""Known tracker and telemetry hosts: which list names a host, and by which rule.

Lists, all read offline:
- adguard-tracking-protection: AdGuard's Tracking Protection filter, the only registry
  data that covers phone-maker telemetry; read from the npm package
  @adguard/dnr-rulesets (GPL-3.0), which embeds the filter's text. Only rules that
  name a whole host are used (``||host^``, optionally limited to resource types or
  third-party requests): a rule for one path or one site says nothing about the host.
- oem-telemetry: hosts named in public research on OEM analytics, curated in
  data/oem_telemetry.yaml with their sources.
- files a policy names: one host a line, hosts-file lines (``0.0.0.0 host``) or AdBlock
  whole-host rules (``||host^``). Any other line (a YAML or JSON list, a rule for one path)
  is refused with its line, and so is a list with no host: read as nothing, it would let
  the hosts it names pass unflagged.
A host no list names is reported as not known to be a tracker, which is not "allowed".
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from telltale import yamlconfig
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
# A user's list: DNS labels (underscores occur in real names), the last one not a number.
_LABEL = r"[a-z0-9_*](?:[a-z0-9_*-]*[a-z0-9_*])?"
_USER_HOST = re.compile(rf"(?:{_LABEL}\.)+[a-z*](?:[a-z0-9*-]*[a-z0-9*])?")
_ADBLOCK_HEADER = re.compile(r"\[(?:adblock|ublock|adguard)[^\]]*\]", re.I)
# Names every hosts file carries for the machine itself: not trackers, not errors.
_HOSTS_FILE_OWN = frozenset({
    "localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback",
    "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0",
})
_FORMATS = "one host a line, hosts-file lines (0.0.0.0 host) or AdBlock rules (||host^)"


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
    doc, _ = yamlconfig.compose(_OEM_FILE.read_text(encoding="utf-8"), str(_OEM_FILE))
    names, wild, notes = set(), set(), []
    for entry in doc["hosts"]:
        p = entry["pattern"].lower()
        (wild if "*" in p else names).add(p)
        notes.append((p, f"{entry['vendor']}: {entry['what']}; sources: {', '.join(entry['sources'])}"))
    ds = Dataset(OEM, doc["title"], "tracker list", doc["curated"], doc["curated"], doc["licence"],
                 "telltale/destinations/data/oem_telemetry.yaml")
    return HostList(ds, frozenset(names), tuple(sorted(wild)), tuple(notes))


def _host(token: str, line: str, wildcards: bool = True) -> str:
    host = token.lower().rstrip(".")
    if not _USER_HOST.fullmatch(host) or (not wildcards and "*" in host):
        raise ValueError(f"{token!r}{'' if token == line else f' in {line!r}'} is not a host name")
    return host


def _adblock_rule(line: str) -> list[tuple[str, str]]:
    """`||host^` (with modifiers that only narrow it), `@@||host^`, `...$badfilter`: (verdict, host)."""
    exception = line.startswith("@@")
    rule, _, mods = line.removeprefix("@@").partition("$")
    modifiers = {m.strip().lower() for m in mods.split(",")} if mods else set()
    rule = rule.removesuffix("|")
    if not (rule.startswith("||") and rule.endswith("^")) or "/" in rule:
        raise ValueError(f"{line!r} is not a whole-host AdBlock rule (||host^): it names part of a site")
    host = _host(rule[2:-1], line)
    if odd := modifiers - _HOST_MODIFIERS - {"badfilter"}:
        raise ValueError(f"{line!r} is limited to some sites or requests (${', $'.join(sorted(odd))}): "
                         "not a whole-host rule")
    if "badfilter" in modifiers:
        return [("cancel", host)]
    if exception:  # only `@@||host^` clears the whole host; a narrowed exception leaves it listed
        return [] if modifiers else [("except", host)]
    return [("block", host)]


def _hosts_line(line: str) -> list[tuple[str, str]]:
    """`host`, or `ADDRESS host [host...]` as in a hosts file (its own names skipped)."""
    tokens = re.split(r"\s#", line, maxsplit=1)[0].split()  # `0.0.0.0 host # why`
    try:
        ipaddress.ip_address(tokens[0])
    except ValueError:
        if len(tokens) > 1:
            raise ValueError(f"{line!r} is not one host name") from None
        return [("block", _host(tokens[0], line))]
    if len(tokens) == 1:
        raise ValueError(f"{line!r} is an address with no host name")
    names = [t for t in tokens[1:] if t.lower() not in _HOSTS_FILE_OWN]
    return [("block", _host(t, line, wildcards=False)) for t in names]


def _looks_like(line: str) -> str | None:
    if line[0] in "{[\"":
        return "JSON"
    if line.startswith(("- ", "---")) or re.match(r"[\w.*-]+\s*:(\s|$)", line):
        return "YAML"
    return None


def _list_rules(line: str) -> list[tuple[str, str]]:
    """What one line of a user's list says: (block|except|cancel, host); ValueError if nothing sure."""
    if not line or line[0] in "!#" or _ADBLOCK_HEADER.fullmatch(line):
        return []
    if kind := _looks_like(line):
        raise ValueError(f"this looks like {kind}, which a tracker list is not: write {_FORMATS}")
    if line.startswith(("|", "@@")) or "^" in line or "$" in line:
        return _adblock_rule(line)
    return _hosts_line(line)


def parse_list(text: str, source: str) -> tuple[set[str], set[str]]:
    """A user's list, strictly: (names, wildcards); ConfigError with file:line on a line it cannot read."""
    rules: dict[str, set[str]] = {"block": set(), "except": set(), "cancel": set()}
    for n, line in enumerate(text.splitlines(), 1):
        try:
            for verdict, host in _list_rules(line.strip()):
                rules[verdict].add(host)
        except ValueError as e:
            raise ConfigError(f"{source}:{n}: {e}") from None
    blocked = rules["block"] - rules["except"] - rules["cancel"]
    if not blocked:
        raise ConfigError(f"{source}: no tracker host in this list, so it would flag nothing ({_FORMATS})")
    return {h for h in blocked if "*" not in h}, {h for h in blocked if "*" in h}


def from_file(path: Path) -> HostList:
    """A user's list in one of the formats lists are shared in; refused, with its line, if it is not one."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read tracker list: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: tracker list is not UTF-8 text (byte {e.start})") from None
    names, wild = parse_list(text, str(path))
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
