"""A scenario's capture window and the judgement of its traffic.

The pure part (positive controls, who may see what) takes flows and returns
verdict material; the Window class is the edge that closes the capture and
reads the window's flows from disk. Fail closed: a window whose own traffic
was not seen, or that the proxy cannot vouch for, raises CaptureBroken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mitmproxy import http
from mitmproxy.flow import Flow

from telltale.browser import Visit
from telltale.capture import store
from telltale.capture.proxy import CaptureProxy, WindowSpan
from telltale.capture.station import account_settled
from telltale.errors import CaptureBroken, CaptureFileError

if TYPE_CHECKING:
    from telltale.canaries import ScenarioCanaries
    from telltale.judge import Entitled
    from telltale.sweep import Ledger


def seen(flows: Iterable[Flow], visit: Visit) -> bool:
    """The positive control: the request the action itself must cause is in the capture."""
    for f in flows:
        if isinstance(f, http.HTTPFlow) and f.request.pretty_host == visit.host \
                and f.request.path.split("?")[0] == visit.path \
                and (not visit.query or f.request.path.partition("?")[2] == visit.query) \
                and f.response is not None:
            return True
    return False


def missing_controls(flows: Sequence[Flow], visits: Iterable[Visit]) -> list[Visit]:
    return [v for v in visits if not seen(flows, v)]


@dataclass(frozen=True)
class WindowTraffic:
    """What a closed window saw: its flows, the records that could not be read, its span."""

    window: str
    flows: tuple[Flow, ...]  # the proxy's flows, then what only the packet record saw (sealed)
    damaged: tuple[CaptureFileError, ...]
    span: WindowSpan
    accounted: dict = field(default_factory=dict)  # conversations of the packet record, by how
    witness_problems: tuple[str, ...] = ()


@dataclass
class Window:
    """An open capture window on a device's proxy, with the actions taken inside it."""

    proxy: CaptureProxy
    id: str
    scenario: str = ""  # the requirement's scenario name, for messages about this window
    settle: float = 0.0  # seconds to keep capturing after the last action (late telemetry)
    redact: bool = True  # credentials out of the evidence this window attaches
    visits: list[Visit] = field(default_factory=list)
    acted_at: float | None = None  # when its last action was taken (epoch): late traffic counts from here
    ledger: Ledger | None = None  # the device's run-wide sweep (sweep.py), if the run keeps one
    idle: float | None = None  # an idle soak: the seconds the device was left alone
    identifiers: dict[str, str] = field(default_factory=dict)  # the device's: evidence, never redacted
    swept: dict[str, str] = field(default_factory=dict)  # every value a check of this window looked for
    # what the scenario did, as calls a differential run can make again with other values
    actions: list[Callable[[ScenarioCanaries], object]] = field(default_factory=list)
    _traffic: WindowTraffic | None = None

    def __repr__(self) -> str:
        return f"Window({self.id})"

    @property
    def keep(self):
        """What redaction must leave in this window's evidence: its canaries, the identifiers."""
        from telltale import redact

        return redact.keeper(self.swept, self.identifiers)

    @property
    def closed(self) -> bool:
        return self._traffic is not None

    def expect(self, visit: Visit) -> Visit:
        self.visits.append(visit)
        self.acted_at = time.time()
        return visit

    def act(self, action: Callable[[ScenarioCanaries], object], canaries: ScenarioCanaries):
        """Do one of the scenario's actions with its values, and keep it for a differential run."""
        self.actions.append(action)
        return self.replay(action, canaries)

    def replay(self, action: Callable[[ScenarioCanaries], object], canaries: ScenarioCanaries):
        """Do an action with these values; a page it loads is a positive control of the window."""
        result = action(canaries)
        if isinstance(result, Visit):
            return self.expect(result)
        self.acted_at = time.time()
        return result

    def sweep_for(self, values: dict[str, str], allowed: Entitled, identifiers: bool = False) -> None:
        """Ask the run-wide sweep to look for these values (and the device's identifiers) all run:
        a copy that leaves after this window closes is pinned on this scenario."""
        self.swept.update(values)
        if self.ledger is None:
            return
        from telltale.sweep import Expectation

        span = self._traffic.span if self._traffic is not None else None
        opened = span.opened if span else None
        self.ledger.add(Expectation(self.id, self.scenario or self.id, dict(values), allowed, identifiers,
                                    self.acted_at or opened or time.time(), opened,
                                    span.closed if span else None))

    def traffic(self, *, judge_tls_refusals: bool = False) -> WindowTraffic:
        """Close the window (once) and return its flows; CaptureBroken if they cannot be trusted.

        judge_tls_refusals: a caller that judges refused TLS itself (the destination rules,
        against the policy's named acceptances) gets the traffic despite it; every other
        problem still breaks the window."""
        if self._traffic is None:
            time.sleep(self.settle)
            span = self.proxy.close_window()
            flows, damaged = [], []
            for rec in store.read_records(span.capture, span.start, span.end):
                if rec.error is not None:
                    damaged.append(rec.error)
                elif store.window_of(rec.flow) == self.id:
                    flows.append(rec.flow)
            accounted, witness_problems = {}, []
            witness = getattr(self.proxy, "witness", None)
            if witness is not None:  # sealed: every conversation of the link is accounted for
                escaped, witness_problems, accounted = account_settled(witness, span, flows)
                flows += escaped
            self._traffic = WindowTraffic(self.id, tuple(flows), tuple(damaged), span, accounted,
                                          tuple(witness_problems))
        t = self._traffic
        problems = []
        if t.span.in_flight:
            problems.append(f"{t.span.in_flight} request(s) still in flight at close")
        if t.damaged:
            problems.append("damaged capture records: " + "; ".join(map(str, t.damaged)))
        problems += t.witness_problems
        if t.span.tls_failures and not judge_tls_refusals:
            hosts = sorted({str(e.get("sni") or e.get("server")) for e in t.span.tls_failures})
            problems.append(f"TLS refused by the client (traffic not examined) for {', '.join(hosts)}")
        missing = missing_controls(t.flows, self.visits)
        if missing:
            problems.append("positive control missing: the capture did not see "
                            + ", ".join(v.url for v in missing))
        if problems:
            raise CaptureBroken(f"window {self.id}: " + "; ".join(problems))
        return t
