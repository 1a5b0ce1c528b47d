"""Who may see what: leak findings of a window, minus the parties entitled to the data.

The detector finds every canary wherever it went; a requirement then says who
is allowed to receive it (the visited site itself, the search engine's own
domain). Everything else is a finding. Bytes the detector could only read in
part (a capped decompression bomb, an unreadable record) leave the verdict open:
with no finding they make the scenario broken, never passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mitmproxy import dns
from mitmproxy.flow import Flow

from telltale.detect import Canary, Finding, scan_flows
from telltale.errors import CaptureBroken
from telltale.window import registrable_domain

HostRule = Callable[[str], bool]


def same_host(host: str) -> HostRule:
    host = host.lower()
    return lambda h: h.lower() == host


def nobody(host: str) -> bool:
    """No host is entitled (device identifiers)."""
    return False


def same_party_as(host: str) -> HostRule:
    domain = registrable_domain(host)
    return lambda h: registrable_domain(h) == domain


@dataclass(frozen=True)
class LeakCheck:
    """Findings to hosts that were not entitled, and what could not be fully examined."""

    findings: tuple[Finding, ...]
    unexamined: tuple[str, ...]

    def settle(self) -> None:
        """Fail closed: nothing found in bytes that were not all read is no pass."""
        if not self.findings and self.unexamined:
            raise CaptureBroken("traffic not fully examined: " + "; ".join(self.unexamined))


def check(flows: Sequence[Flow], canaries: Mapping[str, str], allowed: HostRule,
          identifiers: Mapping[str, str] | None = None) -> LeakCheck:
    wanted = [Canary(n, v, "canary") for n, v in canaries.items()]
    wanted += [Canary(n, v, "identifier") for n, v in (identifiers or {}).items()]
    result = scan_flows(flows, wanted)
    by_id = {f.id: f for f in flows}

    def entitled(finding: Finding) -> bool:
        flow = by_id.get(finding.flow)
        if isinstance(flow, dns.DNSFlow) and flow.request is not None:
            # A resolver must see the names it resolves: a lookup of an entitled host is no leak,
            # a canary smuggled into another domain's labels is.
            return any(allowed(q.name) for q in flow.request.questions)
        return allowed(finding.host or "")

    found = tuple(f for f in result.findings if not entitled(f))
    return LeakCheck(found, tuple(map(str, result.errors)) + tuple(result.truncated))


def leaks(flows: Sequence[Flow], canaries: Mapping[str, str], allowed: HostRule,
          identifiers: Mapping[str, str] | None = None) -> list[Finding]:
    """Findings of `canaries` (and device identifiers) in flows to hosts not `allowed`."""
    return list(check(flows, canaries, allowed, identifiers).findings)
