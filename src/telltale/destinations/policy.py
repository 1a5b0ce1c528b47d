"""policy.yaml: where a device's traffic may go, validated, with errors that name file, line and field.

One file beside devices.yaml. A `defaults` section applies everywhere; sections under
`firmware` (glob patterns on the device's firmware line), `devices` (by name) and
`features` (by feature file stem or feature name) add to it, in that order: lists are
joined, single values (first_party, geoip) are replaced by the more specific section.

    defaults:
      allow: ["*.example.net", update.googleapis.com]
      forbidden_countries: [Singapore, Russia]        # names or ISO codes
      accept_unexamined:
        - name: reserved-test-domains
          hosts: ["*.example.net"]
          kinds: [no-ip]
          reason: RFC 2606 names are answered by the offline proxy, never by a real server
    devices:
      redmi-note-8: {first_party: mi.com}

A host no list clears is not allowed; unexamined traffic counts against a clean
verdict unless an acceptance names it (kind and host), and the report shows which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from telltale import yamlconfig
from telltale.destinations import geo, trackers
from telltale.domains import registrable_domain, same_party
from telltale.errors import ConfigError

POLICY_FILE = "policy.yaml"

# What an acceptance can accept: each is a way traffic escapes a verdict. "opaque": a region
# that changes on every one of three differential runs (`telltale scan --differential`).
Kind = Literal["tls-refused", "tcp", "udp", "icmp", "no-ip", "unknown-country", "unknown-host", "opaque",
               "any"]
_HOST_PATTERN = re.compile(r"^[a-z0-9*_.:\[\]-]+$")


def _hosts(v: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for h in v:
        h = str(h).strip().lower().rstrip(".")
        if not h or not _HOST_PATTERN.match(h):
            raise ValueError(f"not a host or host pattern: {h!r}")
        out.append(h)
    return tuple(out)


class Acceptance(BaseModel):
    """A named decision that some unexamined traffic does not block a verdict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    hosts: tuple[str, ...] = Field(min_length=1, description="host patterns (* wildcard) or IPs")
    kinds: tuple[Kind, ...] = Field(min_length=1)
    reason: str = Field(min_length=3, description="why, in words a reviewer can check")

    @field_validator("hosts")
    @classmethod
    def _valid_hosts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _hosts(v)

    def covers(self, kind: str, host: str | None) -> bool:
        if "any" not in self.kinds and kind not in self.kinds:
            return False
        return host is not None and any(host_matches(p, host) for p in self.hosts)


class TrackerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lists: tuple[Literal["adguard-tracking-protection", "oem-telemetry"], ...] = trackers.DEFAULT_LISTS
    files: tuple[str, ...] = Field(
        (), description="extra lists (a host a line, hosts-file lines or ||host^ rules), "
        "relative to policy.yaml")


class GeoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mmdb: str = Field(
        description="a MaxMind-format .mmdb, relative to policy.yaml (e.g. GeoLite2-Country.mmdb)")
    kind: Literal["location", "registry"] = "location"


class Budget(BaseModel):
    """How much an idle device may send, per destination and hour (Leith: idle handsets phone
    home every few minutes; a budget turns "too much" into a verdict)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_host: int | None = Field(None, ge=0, description="bytes per hour any one destination may get")
    hosts: dict[str, int] = Field(default_factory=dict,
                                  description="host pattern -> bytes per hour, before per_host")

    @field_validator("hosts")
    @classmethod
    def _valid(cls, v: dict[str, int]) -> dict[str, int]:
        for k, n in v.items():
            _hosts((k,))
            if n < 0:
                raise ValueError(f"budget of {k} is negative")
        return {k.lower(): n for k, n in v.items()}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: tuple[str, ...] = ()
    first_party: str | None = None
    forbidden_countries: tuple[str, ...] = ()
    accept_unexamined: tuple[Acceptance, ...] = ()
    trackers: TrackerSettings | None = None
    geoip: GeoSettings | None = None
    budget: Budget | None = None

    @field_validator("allow")
    @classmethod
    def _valid_allow(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _hosts(v)

    @field_validator("forbidden_countries")
    @classmethod
    def _countries(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(geo.country_code(c) for c in v)


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: Section = Section()
    firmware: dict[str, Section] = Field(default_factory=dict)
    devices: dict[str, Section] = Field(default_factory=dict)
    features: dict[str, Section] = Field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """The rules in force for one scenario on one device: what the judgement reads."""

    allow: tuple[str, ...] = ()
    first_parties: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()  # ISO 3166-1 alpha-2
    acceptances: tuple[Acceptance, ...] = ()
    tracker_lists: tuple[str, ...] = trackers.DEFAULT_LISTS
    tracker_files: tuple[Path, ...] = ()
    geoip: Path | None = None
    geoip_kind: str = "location"
    source: str = "built-in defaults"
    sections: tuple[str, ...] = field(default=())
    budget_per_host: int | None = None  # bytes per hour; None: no budget set
    budgets: tuple[tuple[str, int], ...] = ()  # (host pattern, bytes per hour), first match wins

    def __repr__(self) -> str:  # shown as a step argument in reports
        return f"Policy({self.source}: {', '.join(self.sections) or 'defaults'})"

    def allows(self, host: str | None) -> str | None:
        """The allow pattern or first party that clears the host; None if nothing does."""
        if not host:
            return None
        for p in self.allow:
            if host_matches(p, host):
                return p
        for fp in self.first_parties:
            if same_party(host, fp):
                return f"first party {registrable_domain(fp)}"
        return None

    def acceptance(self, kind: str, host: str | None, ip: str | None = None) -> Acceptance | None:
        for a in self.acceptances:
            if a.covers(kind, host) or (ip is not None and a.covers(kind, ip)):
                return a
        return None

    def budget_of(self, host: str | None) -> tuple[int | None, str]:
        """The bytes per hour a destination may get while idle, and which setting says so."""
        for pattern, n in self.budgets:
            if host and host_matches(pattern, host):
                return n, f"budget {pattern}"
        return self.budget_per_host, "budget per_host"

    def with_first_parties(self, hosts: tuple[str, ...]) -> Policy:
        return replace(self, first_parties=tuple(dict.fromkeys(self.first_parties + hosts)))


def host_matches(pattern: str, host: str) -> bool:
    """`*.example.com` matches any subdomain (not example.com itself); `*` spans dots."""
    return fnmatchcase(host.lower().rstrip("."), pattern)


def parse(text: str, source: str = POLICY_FILE) -> PolicyFile:
    """Validate the text of a policy.yaml; ConfigError (one line: file:line: field: problem)."""
    data, positions = yamlconfig.compose(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a mapping with defaults/firmware/devices/features is required")
    return yamlconfig.validate(PolicyFile, data, source, positions)


def load(path: str | Path) -> PolicyFile:
    return parse(yamlconfig.read_text(path), str(path))


def resolve(pf: PolicyFile, *, device: str | None = None, firmware: str | None = None,
            feature: tuple[str, ...] = (), source: str | Path = POLICY_FILE) -> Policy:
    """The policy in force: defaults, then matching firmware patterns, the device, the feature."""
    chosen: list[tuple[str, Section]] = [("defaults", pf.defaults)]
    if firmware:
        chosen += [(f"firmware {k}", s) for k, s in pf.firmware.items() if fnmatchcase(firmware, k)]
    if device and device in pf.devices:
        chosen.append((f"device {device}", pf.devices[device]))
    chosen += [(f"feature {k}", s) for k, s in pf.features.items() if k in feature]
    base = Path(source).parent
    allow: list[str] = []
    forbidden: list[str] = []
    acceptances: list[Acceptance] = []
    first_party = None
    tsettings = TrackerSettings()
    gsettings: GeoSettings | None = None
    per_host: int | None = None
    budgets: dict[str, int] = {}
    for _, s in chosen:
        if s.budget is not None:
            per_host = s.budget.per_host if s.budget.per_host is not None else per_host
            budgets = {**s.budget.hosts, **budgets}  # the more specific section's patterns first
        allow += s.allow
        forbidden += s.forbidden_countries
        acceptances += s.accept_unexamined
        first_party = s.first_party or first_party
        tsettings = s.trackers or tsettings
        gsettings = s.geoip or gsettings
    return Policy(
        allow=tuple(dict.fromkeys(allow)),
        first_parties=(first_party,) if first_party else (),
        forbidden=tuple(dict.fromkeys(forbidden)),
        acceptances=tuple(acceptances),
        tracker_lists=tsettings.lists,
        tracker_files=tuple(base / f for f in tsettings.files),
        geoip=(base / gsettings.mmdb) if gsettings else None,
        geoip_kind=gsettings.kind if gsettings else "location",
        source=str(Path(source).name),
        sections=tuple(name for name, _ in chosen),
        budget_per_host=per_host,
        budgets=tuple(budgets.items()),
    )
