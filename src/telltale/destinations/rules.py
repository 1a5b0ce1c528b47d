"""The destination and transport rules: pure functions from traffic and a policy to findings.

Every rule has one signature, `rule(traffic, policy, lookups) -> RuleResult`, and one entry in
RULES under the name the steps and `telltale scan --policy` use: adding a rule is a function
and a line here (and a step phrase, if a feature says it). Each rule gives findings of three
verdicts: "violation" (proven: fails the scenario), "unexamined" (the rule cannot be
established for that traffic: the scenario is broken unless a policy acceptance names it)
and "accepted" (unexamined, but a named acceptance covers it; kept so the report shows the
decision). A rule passes only with neither violations nor unaccepted unexamined traffic:
unknown is never allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from mitmproxy.flow import Flow

from telltale import tables
from telltale.destinations import geo as geo_mod
from telltale.destinations import trackers as trackers_mod
from telltale.destinations.datasets import Dataset, data_lines
from telltale.destinations.geo import CountryAnswer, CountryEvidence, GeoSources
from telltale.destinations.policy import Policy
from telltale.destinations.trackers import TrackerDB
from telltale.destinations.transport import Contact, Unexamined, contacts, tls_refusals
from telltale.domains import registrable_domain

ALLOWLIST, TRACKERS, COUNTRIES, ENCRYPTION, UNEXAMINED, BUDGET = (
    "allowlist", "trackers", "countries", "encryption", "unexamined", "budget")
GEO, TRACKER_LISTS = "geo", "trackers"  # the offline data a rule reads (Rule.reads)


@dataclass(frozen=True)
class RuleFinding:
    """One row of a rule's verdict (not a detector `Finding`, which is a canary found in a flow)."""

    rule: str
    verdict: str  # violation | unexamined | accepted
    host: str  # "?" when unknown
    ip: str  # "?" when unknown
    country: str  # ISO code, or "?": the forbidden one a source gives, else the first source's
    matched: str  # the list, pattern or reason that decided
    detail: str = ""
    count: int = 1  # flows (or refused handshakes) this row stands for
    accepted_by: str = ""
    countries: tuple[CountryAnswer, ...] = ()  # every source's answer for `ip`, named and dated

    @property
    def where(self) -> str:
        """The country column: `PL|US` when the sources disagree (see CountryEvidence.short)."""
        return CountryEvidence(self.ip, self.countries).short if self.countries else self.country

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["countries"] = [a.to_dict() for a in self.countries]
        return d


@dataclass(frozen=True)
class RuleResult:
    rule: str
    findings: tuple[RuleFinding, ...]
    datasets: tuple[Dataset, ...] = ()

    @property
    def violations(self) -> tuple[RuleFinding, ...]:
        return tuple(f for f in self.findings if f.verdict == "violation")

    @property
    def unexamined(self) -> tuple[RuleFinding, ...]:
        return tuple(f for f in self.findings if f.verdict == "unexamined")

    @property
    def accepted(self) -> tuple[RuleFinding, ...]:
        return tuple(f for f in self.findings if f.verdict == "accepted")

    @property
    def passed(self) -> bool:
        return not self.violations and not self.unexamined

    def table(self) -> str:
        return table(self.findings, self.datasets)


@dataclass(frozen=True)
class Traffic:
    """What a rule judges: who was talked to, the handshakes the proxy could not read, and how long
    the device was watched (an idle soak's seconds; None when unknown, as in a capture file)."""

    contacts: tuple[Contact, ...]
    refused: tuple[Unexamined, ...] = ()
    seconds: float | None = None


@dataclass(frozen=True)
class Lookups:
    """The offline data a judgement reads (opened once per run; lookups are pure)."""

    geo: GeoSources | None = None
    trackers: TrackerDB | None = None
    _country_cache: dict = field(default_factory=dict, compare=False, repr=False)

    def country(self, ip: str | None) -> CountryEvidence:
        if self.geo is None:
            return CountryEvidence(ip, (CountryAnswer(ip, None, "none", "no IP->country database"),))
        if ip not in self._country_cache:
            self._country_cache[ip] = self.geo.country(ip)
        return self._country_cache[ip]

    def tracker(self, host: str | None) -> tuple[trackers_mod.TrackerMatch, ...]:
        return self.trackers.match(host) if self.trackers is not None else ()

    @property
    def datasets(self) -> tuple[Dataset, ...]:
        return (self.geo.datasets if self.geo else ()) + (self.trackers.datasets if self.trackers else ())


def lookups_for(policy: Policy, root: Path | None = None, *, geo: bool = True,
                trackers: bool = True) -> Lookups:
    """Open the datasets the policy names (the defaults from node_modules, or the user's files)."""
    g = None
    if geo:
        own = geo_mod.open_mmdb(policy.geoip, policy.geoip_kind) if policy.geoip else None
        g = geo_mod.sources(root, own)
    t = trackers_mod.load(policy.tracker_lists, policy.tracker_files, root) if trackers else None
    return Lookups(g, t)


def _grouped(rows: Iterable[RuleFinding]) -> tuple[RuleFinding, ...]:
    """One row per distinct finding, with the number of flows it stands for."""
    first: dict[tuple, RuleFinding] = {}
    counts: dict[tuple, int] = {}
    for r in rows:
        key = (r.rule, r.verdict, r.host, r.ip, r.country, r.matched, r.accepted_by)
        first.setdefault(key, r)  # its detail (a URL) stands as the example
        counts[key] = counts.get(key, 0) + 1
    return tuple(replace(first[k], count=n) for k, n in counts.items())


def _where(lk: Lookups, ip: str | None) -> tuple[str, tuple[CountryAnswer, ...]]:
    """The first source's country (or "?") and every source's answer, for a finding's columns."""
    if lk.geo is None or ip is None:
        return "?", ()
    ev = lk.country(ip)
    return ev.country or "?", ev.answers


def _placed_by(lk: Lookups, rows: Sequence[RuleFinding]) -> tuple[Dataset, ...]:
    """The country datasets, when a finding shows their answers: their licences ask for credit."""
    return lk.geo.datasets if lk.geo is not None and any(r.countries for r in rows) else ()


def _unexamined(rule: str, policy: Policy, kind: str, host: str | None, ip: str | None,
                country: str, why: str, detail: str = "",
                countries: tuple[CountryAnswer, ...] = ()) -> RuleFinding:
    acc = policy.acceptance(kind, host, ip)
    return RuleFinding(rule, "accepted" if acc else "unexamined", host or "?", ip or "?", country,
                       f"{kind}: {why}", detail, accepted_by=acc.name if acc else "", countries=countries)


def _unknown_host(rule: str, policy: Policy, c: Contact) -> RuleFinding:
    """A contact whose host the lab never learnt: no name to allow or to look up."""
    return _unexamined(rule, policy, "unknown-host", None, c.ip, "?", "destination host unknown", c.url)


def _refusals(rule: str, policy: Policy, refused: Sequence[Unexamined], lk: Lookups) -> list[RuleFinding]:
    out = []
    for u in refused:
        cc, answers = _where(lk, u.ip)
        out.append(_unexamined(rule, policy, "tls-refused", u.host, u.ip, cc,
                               "the client refused the proxy's TLS (pinning?): its traffic was not seen",
                               u.detail, answers))
    return out


def check_allowlist(traffic: Traffic, policy: Policy, lk: Lookups) -> RuleResult:
    """Every destination is allowed by name or is the scenario's first party; unknown is not allowed."""
    rows: list[RuleFinding] = []
    for c in traffic.contacts:
        if c.host is None:
            rows.append(_unknown_host(ALLOWLIST, policy, c))
        elif policy.allows(c.host) is None:
            cc, answers = _where(lk, c.ip)
            rows.append(RuleFinding(ALLOWLIST, "violation", c.host, c.ip or "?", cc,
                                    "not in the allowlist", c.url, countries=answers))
    rows += _refusals(ALLOWLIST, policy, traffic.refused, lk)
    return RuleResult(ALLOWLIST, _grouped(rows), _placed_by(lk, rows))


def check_trackers(traffic: Traffic, policy: Policy, lk: Lookups) -> RuleResult:
    """No request reaches a host that a tracker list names."""
    rows: list[RuleFinding] = []
    for c in traffic.contacts:
        if c.host is None:
            rows.append(_unknown_host(TRACKERS, policy, c))
            continue
        hits = lk.tracker(c.host)
        if hits:
            cc, answers = _where(lk, c.ip)
            rows.append(RuleFinding(TRACKERS, "violation", c.host, c.ip or "?", cc,
                                    "; ".join(f"{m.list}: {m.rule}" for m in hits), c.url, countries=answers))
    rows += _refusals(TRACKERS, policy, traffic.refused, lk)
    lists = lk.trackers.datasets if lk.trackers else ()
    return RuleResult(TRACKERS, _grouped(rows), lists + _placed_by(lk, rows))


def check_countries(traffic: Traffic, policy: Policy, lk: Lookups) -> RuleResult:
    """No server is placed in a country the policy forbids by ANY source; an unknown place is unexamined.

    One source placing it there is enough when the others say elsewhere (free databases
    disagree, and a silent pass on the friendlier answer is what a leak hides behind); the
    finding names each source's country and date and says they disagree, so the reader sees
    the verdict is contested. A source that does not know is shown; the one that knows decides.
    """
    rows: list[RuleFinding] = []
    for c in traffic.contacts:
        if c.ip is None:
            rows.append(_unexamined(COUNTRIES, policy, "no-ip", c.host, None, "?",
                                    "server address unknown (no connection, not in the offline host map)",
                                    c.url))
            continue
        ev = lk.country(c.ip)
        hit = [code for code in ev.codes if code in policy.forbidden]
        if not ev.codes:
            rows.append(_unexamined(COUNTRIES, policy, "unknown-country", c.host, c.ip, "?",
                                    f"country unknown: {ev.reason}", c.url, ev.answers))
        elif hit:
            rows.append(RuleFinding(COUNTRIES, "violation", c.host or "?", c.ip, hit[0],
                                    forbidden_text(hit, ev), c.url, countries=ev.answers))
    rows += _refusals(COUNTRIES, policy, traffic.refused, lk)
    return RuleResult(COUNTRIES, _grouped(rows), lk.geo.datasets if lk.geo else ())


def forbidden_text(hit: Sequence[str], ev: CountryEvidence) -> str:
    """`Singapore, sources disagree: SG (dbip-country-lite 2026-06-01) / US (geo-whois-asn-country
    2026-06-17)`: the verdict first, so a cut column still says the sources disagree."""
    names = ", ".join(geo_mod.country_name(code) for code in hit)
    return f"{names}{', sources disagree' if ev.disagree else ''}: {ev.listing}"


def check_encryption(traffic: Traffic, policy: Policy, lk: Lookups) -> RuleResult:
    """Nothing in clear text: plain HTTP, ws://, plain DNS; raw TCP/UDP cannot be told, so unexamined.
    A refused handshake was encrypted (that is why it went unread): no row here."""
    rows: list[RuleFinding] = []
    for c in traffic.contacts:
        if c.plaintext:
            rows.append(RuleFinding(ENCRYPTION, "violation", c.host or "?", c.ip or "?", "?",
                                    f"plaintext {c.protocol}", c.url))
        elif c.plaintext is None:
            rows.append(_unexamined(ENCRYPTION, policy, c.protocol, c.host, c.ip, "?",
                                    f"raw {c.protocol.upper()} passed through unread"))
    return RuleResult(ENCRYPTION, _grouped(rows))


def check_unexamined(traffic: Traffic, policy: Policy, lk: Lookups) -> RuleResult:
    """No traffic escaped inspection: refused TLS, raw TCP, UDP (QUIC); accepted only by name.
    Its rows are about what was not read, not where it went: they are not placed."""
    rows: list[RuleFinding] = []
    for c in traffic.contacts:
        if c.escaped:
            # Seen only by the packet record: proven traffic that no reader examined.
            acc = policy.acceptance(c.protocol, c.host, c.ip)
            rows.append(RuleFinding(UNEXAMINED, "accepted" if acc else "violation", c.host or "?",
                                    c.ip or "?", "?", f"{c.protocol}: {c.escaped}", c.url,
                                    accepted_by=acc.name if acc else ""))
        elif not c.examined:
            why = ("UDP (QUIC?) passed through unread" if c.protocol == "udp"
                   else "raw TCP passed through unread")
            rows.append(_unexamined(UNEXAMINED, policy, c.protocol, c.host, c.ip, "?", why))
    rows += _refusals(UNEXAMINED, policy, traffic.refused, Lookups())
    return RuleResult(UNEXAMINED, _grouped(rows))


RATE_FROM = 3  # flows to one destination before the soak's rate is extrapolated to the hour


def check_budget(traffic: Traffic, policy: Policy, lk: Lookups) -> RuleResult:
    """No destination got more than its budget (bytes per hour) while the device idled.

    From RATE_FROM flows on, the soak's rate is extrapolated to the hour (a repeated pattern,
    like a heartbeat); fewer flows are one event, not a rate, and their bytes must fit in one
    hour's budget."""
    seconds = traffic.seconds or 0.0
    sent: dict[str, list[Contact]] = {}
    for c in traffic.contacts:
        sent.setdefault(c.host or c.ip or "?", []).append(c)
    rows = []
    for host, group in sorted(sent.items()):
        total = sum(c.bytes_sent for c in group)
        limit, by = policy.budget_of(host)
        rated = len(group) >= RATE_FROM
        amount = total * 3600 / max(seconds, 1e-3) if rated else total
        if limit is not None and amount > limit:
            ip = next((c.ip for c in group if c.ip), None)
            what = "bytes/hour at the soak's rate" if rated else "bytes in the soak"
            rows.append(RuleFinding(BUDGET, "violation", host, ip or "?", "?",
                                    f"{amount:,.0f} {what}, over {by} {limit:,}/hour",
                                    f"{total} bytes in {len(group)} flows in {seconds:.0f} s", len(group)))
    return RuleResult(BUDGET, tuple(rows))


Judge = Callable[[Traffic, Policy, Lookups], RuleResult]


def _always(policy: Policy) -> bool:
    return True


def _never(policy: Policy) -> bool:
    return False


def _has_allowlist(policy: Policy) -> bool:
    return bool(policy.allow or policy.first_parties)


def _forbids_countries(policy: Policy) -> bool:
    return bool(policy.forbidden)


@dataclass(frozen=True)
class Rule:
    """A rule as the registry lists it: its judgement, the data it reads, and when a scan applies it.

    A step opens what `reads` names; a scan opens the data once for all its rules and lists a
    refused handshake once, under the rule with `scan_refusals` (the others would repeat it).
    `scan_places=False` leaves a rule's rows in a scan without countries: the allowlist's, so
    the output of `scan --policy` stays as readers and pipelines know it."""

    judge: Judge
    reads: frozenset[str] = frozenset()  # GEO (to place servers), TRACKER_LISTS
    in_scan: Callable[[Policy], bool] = _never  # whether `telltale scan --policy` applies it
    scan_refusals: bool = False  # in a scan, it is the one rule given the refused handshakes
    scan_places: bool = True  # in a scan, its rows show the servers' countries (when the data is open)


# The registry the steps and `telltale scan --policy` walk, by the rule names their findings carry;
# a scan's findings come in this order.
RULES: dict[str, Rule] = {
    TRACKERS: Rule(check_trackers, frozenset({GEO, TRACKER_LISTS}), _always),
    ENCRYPTION: Rule(check_encryption, in_scan=_always),
    UNEXAMINED: Rule(check_unexamined, in_scan=_always, scan_refusals=True),
    ALLOWLIST: Rule(check_allowlist, frozenset({GEO}), _has_allowlist, scan_places=False),
    COUNTRIES: Rule(check_countries, frozenset({GEO}), _forbids_countries),
    BUDGET: Rule(check_budget),  # a capture file does not say how long the device idled
}


def judge(name: str, traffic: Traffic, policy: Policy, root: Path | None = None) -> RuleResult:
    """The registered rule `name` applied, with the offline data it reads opened for it (a step)."""
    rule = RULES[name]
    lk = lookups_for(policy, root, geo=GEO in rule.reads, trackers=TRACKER_LISTS in rule.reads)
    return rule.judge(traffic, policy, lk)


def scan_lookups(policy: Policy, root: Path | None = None) -> Lookups:
    """The data a scan opens once for all its rules: the country data only when the policy forbids
    countries (a scan for the other rules needs no IP database)."""
    return lookups_for(policy, root, geo=bool(policy.forbidden))


def destination_findings(flows: Iterable[Flow], policy: Policy, *, tls_failures: Iterable[dict] = (),
                         first_parties: tuple[str, ...] = (), lookups: Lookups | None = None,
                         root: Path | None = None) -> tuple[RuleFinding, ...]:
    """Every finding of the registered rules a scan applies to this policy that is not accepted,
    for `telltale scan`, in the order of RULES."""
    pol = policy.with_first_parties(first_parties) if first_parties else policy
    lk = lookups or scan_lookups(pol, root)
    seen = Traffic(contacts(flows), tls_refusals(tls_failures))
    found: list[RuleFinding] = []
    for rule in RULES.values():
        if not rule.in_scan(pol):
            continue
        traffic = seen if rule.scan_refusals else replace(seen, refused=())
        result = rule.judge(traffic, pol, lk if rule.scan_places else Lookups(trackers=lk.trackers))
        found += (f for f in result.findings if f.verdict != "accepted")
    return tuple(found)


@dataclass(frozen=True)
class Destination:
    """One row of `telltale destinations`: a host and what went to it."""

    host: str
    domain: str  # the registrable domain; an IP literal's is its address (8.8.8.8, [2001:db8::1])
    ips: tuple[str, ...]
    country: str  # one address's `CountryEvidence.short` (US, PL|US, US|?), several joined by ","; "?"
    tracker: str  # the lists that name it, "" if none
    requests: int
    bytes_sent: int
    countries: tuple[CountryAnswer, ...] = ()  # every source's answer for every address

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["ips"] = list(self.ips)
        d["tracker"] = self.tracker or None
        d["country"] = None if self.country == "?" else self.country
        d["countries"] = [a.to_dict() for a in self.countries]
        return d


def summarise(cs: Iterable[Contact], lk: Lookups) -> tuple[Destination, ...]:
    by_host: dict[str, list[Contact]] = {}
    for c in cs:
        by_host.setdefault(c.host or (c.ip or "?"), []).append(c)
    out = []
    for host, group in sorted(by_host.items(), key=lambda kv: (-sum(c.bytes_sent for c in kv[1]), kv[0])):
        ips = tuple(sorted({c.ip for c in group if c.ip}))
        evidence = [lk.country(ip) for ip in ips]
        short = sorted({ev.short for ev in evidence}) or ["?"]
        hits = lk.tracker(host) if host != "?" else ()
        out.append(Destination(host, registrable_domain(host) if host != "?" else "?", ips,
                               ",".join(short), ", ".join(f"{m.list}: {m.rule}" for m in hits),
                               sum(c.requests for c in group), sum(c.bytes_sent for c in group),
                               tuple(a for ev in evidence for a in ev.answers)))
    return tuple(out)


def _cut(v: str, width: int = 60) -> str:
    return v if len(v) <= width else v[: width - 3] + "..."


def table(findings: Sequence[RuleFinding], datasets: Sequence[Dataset] = ()) -> str:
    """A fixed-width table a reviewer reads in the report: one finding a row, then each address's
    answer from every country source (uncut: the column may be), then the data and its credits."""
    if not findings:
        body = "(no findings)"
    else:
        head = ("verdict", "host", "IP", "country", "matched", "flows", "accepted by")
        rows = [(f.verdict, f.host, f.ip, f.where, f.matched, str(f.count), f.accepted_by or "-")
                for f in sorted(findings, key=lambda f: (f.verdict != "violation", f.verdict, f.host))]
        body = tables.table(head, [[_cut(v) for v in r] for r in rows], rule=True)
        placed = {f.ip: CountryEvidence(f.ip, f.countries) for f in findings if f.countries}
        if placed:
            lines = [f"{ip}: {ev}" for ip, ev in sorted(placed.items())]
            body += "\n\ncountries: " + "\n           ".join(lines)
    if datasets:
        body += "\n\n" + data_lines(datasets)
    return body
