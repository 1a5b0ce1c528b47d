"""The run-wide sweep: a scenario's canaries looked for in everything the device sent all run.

A scenario's window closes a moment after its last action, but telemetry is batched: it
leaves on a timer, when the app goes to the background, at the next start. Every canary
is unique to its scenario, so a sighting at any later moment of the run (during another
scenario, between scenarios, in the drain after the last one) can be pinned on the
scenario that caused it. Device identifiers are constant: one seen anywhere in the run
fails every identifier requirement, wherever it appeared.

`sweep` is pure (flows and expectations in, late leaks out); `Ledger` is what a run
records as it goes, saved as JSON lines so the sweep can be run again from the run folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mitmproxy import dns, http, tcp, udp
from mitmproxy.flow import Flow

from telltale.capture import store
from telltale.detect import Canary, Finding, scan_flows
from telltale.judge import Entitled, entitled

WHAT = {"visited_url": "the visited URL", "visited_site": "the visited site",
        "visited_path": "the visited path", "search_term": "the search term",
        "search_token": "the search term"}


@dataclass(frozen=True)
class Expectation:
    """One leak check a scenario made: these values, only to these recipients."""

    window: str  # the scenario's window id (its result carries it as the `window` label)
    scenario: str  # its name, for messages about where a late copy was seen
    canaries: Mapping[str, str]
    entitled: Entitled
    identifiers: bool  # the device's identifiers are looked for too (no one is entitled)
    acted_at: float  # when its last action was taken
    opened: float | None = None
    closed: float | None = None

    def opened_or_acted(self) -> float:
        return self.opened if self.opened is not None else self.acted_at

    def to_json(self) -> str:
        d = asdict(self)
        d["canaries"] = dict(self.canaries)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Expectation:
        d = json.loads(line)
        return cls(**{**d, "entitled": Entitled(**d["entitled"])})


@dataclass(frozen=True)
class LateLeak:
    """A scenario's value seen outside its own window, by a recipient not entitled to it."""

    window: str
    canary: str
    what: str
    host: str
    location: str
    chain: tuple[str, ...]
    excerpt: str
    flow: str
    seen_in: str  # "the drain", "scenario <name>", "between scenarios", ...
    delay: float | None  # seconds after the scenario's last action
    server_ip: str | None = None

    def message(self) -> str:
        if self.what.startswith("the device's"):  # constant: when says nothing about its cause
            return (f"late leak: {self.what} reached {self.host} during {self.seen_in}, outside this "
                    f"scenario's window ({self.location})")
        when = f"{self.delay:.0f} s after the action" if self.delay is not None else "later in the run"
        return (f"late leak: {self.what} of this scenario reached {self.host} {when}, during "
                f"{self.seen_in} ({self.location})")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["chain"] = list(self.chain)
        return d


def flow_time(f: Flow) -> float | None:
    """When the device sent it."""
    if isinstance(f, http.HTTPFlow):
        return f.request.timestamp_start
    if isinstance(f, dns.DNSFlow):
        return f.request.timestamp if f.request else None
    if isinstance(f, (tcp.TCPFlow, udp.UDPFlow)):
        sent = [m.timestamp for m in f.messages if m.from_client]
        return sent[0] if sent else f.client_conn.timestamp_start
    return None


def seen_in(tag: str | None, names: Mapping[str, str]) -> str:
    """Where in the run a window tag is, in words."""
    if not tag:
        return "a time outside any window"
    if tag.startswith("drain"):
        return "the drain after the last scenario"
    if tag.startswith("idle"):
        return "the idle soak"
    if tag.startswith("seal-probe") or tag.startswith("gap-after:seal-probe"):
        return "the set-up before the first scenario"
    if tag.startswith("gap-after:"):
        before = tag.split(":", 1)[1]
        return f"the gap after scenario \"{names.get(before, before)}\""
    return f"scenario \"{names.get(tag, tag)}\""


def _split(name: str) -> tuple[int | None, str]:
    head, _, rest = name.partition(":")
    return (None, rest) if head == "id" else (int(head), rest)


def sweep(flows: Sequence[Flow], expectations: Sequence[Expectation],
          identifiers: Mapping[str, str] | None = None) -> tuple[LateLeak, ...]:
    """Every sighting of an expectation's values outside its own window, not entitled."""
    wanted: list[Canary] = []
    for i, e in enumerate(expectations):
        wanted += [Canary(f"{i}:{n}", v, "canary") for n, v in e.canaries.items()]
    if identifiers and any(e.identifiers for e in expectations):
        wanted += [Canary(f"id:{n}", v, "identifier") for n, v in identifiers.items()]
    if not wanted:
        return ()
    by_id = {f.id: f for f in flows}
    names = {e.window: e.scenario for e in expectations}
    out: list[LateLeak] = []
    seen: set[tuple] = set()
    for finding in scan_flows(flows, wanted).findings:
        flow = by_id.get(finding.flow)
        tag = store.window_of(flow) if flow is not None else None
        when = flow_time(flow) if flow is not None else None
        index, name = _split(finding.canary)
        targets = ([(expectations[index], WHAT.get(name, f"the canary {name}"))] if index is not None
                   else [(e, f"the device's {name}") for e in expectations if e.identifiers])
        for e, what in targets:
            if tag == e.window:
                continue  # its own window judged it already
            if index is not None and entitled(finding, flow, e.entitled):
                continue
            if index is not None and when is not None and when < e.opened_or_acted():
                continue  # before the scenario existed: a canary cannot be, but a clock can skew
            key = (e.window, name, finding.flow, finding.location)
            if key in seen:
                continue
            seen.add(key)
            out.append(_late(e, name, what, finding, tag, when, names))
    return tuple(out)


def _late(e: Expectation, name: str, what: str, f: Finding, tag: str | None, when: float | None,
          names: Mapping[str, str]) -> LateLeak:
    delay = round(when - e.acted_at, 1) if when is not None else None
    return LateLeak(e.window, name, what, f.host, f.location, tuple(f.chain), f.excerpt, str(f.flow),
                    seen_in(tag, names), delay, f.server_ip)


@dataclass
class Ledger:
    """What a device's scenarios asked of the sweep, written as they go (JSON lines)."""

    path: Path
    expectations: list[Expectation] = field(default_factory=list)
    windows: list[tuple[str, float, float]] = field(default_factory=list)  # every window: id, opened, closed

    def add(self, e: Expectation) -> None:
        self.expectations.append(e)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fo:
            fo.write(e.to_json() + "\n")

    @classmethod
    def read(cls, path: Path) -> Ledger:
        out = cls(path)
        if path.is_file():
            out.expectations = [Expectation.from_json(line) for line in path.read_text().splitlines()
                                if line.strip()]
        return out


def observed(expectations: Iterable[Expectation], until: float) -> dict[str, float]:
    """Seconds each scenario's device was watched after its last action."""
    return {e.window: round(until - e.acted_at, 1) for e in expectations}
