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
from telltale.domains import same_party

HostRule = Callable[[str], bool]


@dataclass(frozen=True)
class Entitled:
    """Who may receive a scenario's data, as data (the run-wide sweep judges it again later)."""

    kind: str  # "host": that host only; "party": its registrable domain; "nobody"
    host: str = ""

    def __call__(self, host: str) -> bool:
        if self.kind == "host":
            return host.lower() == self.host.lower()
        if self.kind == "party":
            return same_party(host, self.host)
        return False


def same_host(host: str) -> Entitled:
    return Entitled("host", host.lower())


nobody = Entitled("nobody")  # device identifiers: no host is entitled


def same_party_as(host: str) -> Entitled:
    return Entitled("party", host)


def entitled(finding: Finding, flow: Flow | None, allowed: HostRule) -> bool:
    """Whether the finding's recipient may have the value. A resolver must see the names it
    resolves: a lookup of an entitled host is no leak, a canary smuggled into another domain's
    labels is."""
    if isinstance(flow, dns.DNSFlow) and flow.request is not None:
        return any(allowed(q.name) for q in flow.request.questions)
    return allowed(finding.host or "")


@dataclass(frozen=True)
class LeakCheck:
    """Findings to hosts that were not entitled, and what could not be fully examined."""

    findings: tuple[Finding, ...]
    unexamined: tuple[str, ...]

    def require_examined(self) -> None:
        """Fail closed: nothing found in bytes that were not all read is no pass."""
        if not self.findings and self.unexamined:
            raise CaptureBroken("traffic not fully examined: " + "; ".join(self.unexamined))


def check(flows: Sequence[Flow], canaries: Mapping[str, str], allowed: HostRule,
          identifiers: Mapping[str, str] | None = None) -> LeakCheck:
    wanted = [Canary(n, v, "canary") for n, v in canaries.items()]
    wanted += [Canary(n, v, "identifier") for n, v in (identifiers or {}).items()]
    result = scan_flows(flows, wanted)
    by_id = {f.id: f for f in flows}
    found = tuple(f for f in result.findings if not entitled(f, by_id.get(f.flow), allowed))
    return LeakCheck(found, tuple(map(str, result.errors)) + tuple(result.truncated))

