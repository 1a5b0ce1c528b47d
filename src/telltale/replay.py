"""The differential run of a scenario: its actions again with other values, then once more as at first.

String matching cannot see a value XORed or encrypted with a key baked into the
build. Changing only the value and watching which bytes change with it can: the
scenario's own window is run A; its recorded actions run again in window B with
a second value set of the same shape (canaries, or the identifiers the lab gives
its firmware) and in window R with A's values. `telltale.detect.differential`
compares the three. Every window is a capture window like any other: a window
the capture cannot vouch for breaks the scenario (CaptureBroken), never passes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass

from telltale import canaries as canary_mod
from telltale.browser import Visit
from telltale.canaries import ScenarioCanaries
from telltale.detect.differential import Differential, compare, render_text, side_by_side
from telltale.detect.sources import sent_of_flow
from telltale.judge import Entitled
from telltale.window import Window, WindowTraffic

Entitle = Callable[[Visit | None], Entitled]  # who may receive the values, given the run's first visit


@dataclass(frozen=True)
class Runs:
    """The three runs of a differential scenario, what was varied, and their comparison."""

    varied: str  # "canaries" | "identifiers"
    windows: tuple[Window, Window, Window]
    traffic: tuple[WindowTraffic, WindowTraffic, WindowTraffic]
    canaries_b: ScenarioCanaries
    result: Differential

    def summary(self) -> str:
        a, b, r = self.traffic
        return (f"differential run ({self.varied} varied): windows {a.window} (A), {b.window} (B, other "
                f"{self.varied}), {r.window} (A repeated); {self.result.pairs} request(s) paired, "
                f"{len(self.result.correlated)} part(s) move with the values, "
                f"{len(self.result.opaque)} change even between identical runs (opaque), "
                f"{len(self.result.unpaired)} request(s) unpaired")


def first_visit(window: Window) -> Visit | None:
    return window.visits[0] if window.visits else None


def _run(window: Window, suffix: str, canaries: ScenarioCanaries, reset: Callable[[], None],
         entitle: Entitle, sweep: Mapping[str, str], identifiers: bool,
         on_closed: Callable[[Window, WindowTraffic], None]) -> tuple[Window, WindowTraffic]:
    reset()  # the device as the scenario's Given left it, before the window opens (as for A)
    w = Window(window.proxy, f"{window.id}-{suffix}", scenario=window.scenario, settle=window.settle,
               redact=window.redact, ledger=window.ledger, identifiers=dict(window.identifiers),
               actions=list(window.actions))
    w.proxy.open_window(w.id)
    try:
        for action in window.actions:
            w.replay(action, canaries)
    finally:
        try:
            t = w.traffic()  # closes the window, also when an action failed
        finally:
            if w._traffic is not None:
                on_closed(w, w._traffic)
    # the run-wide sweep looks for this run's values too: a late copy fails the scenario
    w.sweep_for(dict(sweep), entitle(first_visit(w)), identifiers=identifiers)
    return w, t


def differential(window: Window, canaries: ScenarioCanaries, reset: Callable[[], None], entitle: Entitle,
                 *, vary: str, lab_identifiers=None, sweep_values: Mapping[str, str] | None = None,
                 on_closed: Callable[[Window, WindowTraffic], None] = lambda w, t: None,
                 min_opaque: int = 16) -> Runs:
    """Run B (other values) and R (A's values again) after the scenario's window A, and compare.

    `vary`: "canaries" (a second canary set of the same shape) or "identifiers" (a second set
    given to the lab's firmware through `lab_identifiers`, `firmware.LabIdentifiers`).
    `reset` puts the device back as the scenario's Given left it. `sweep_values`: the names the
    check looks for in A (the same names are swept in B with B's values).
    """
    if vary not in ("canaries", "identifiers"):
        raise ValueError(f"vary: canaries or identifiers, not {vary!r}")
    a_traffic = window.traffic()
    twin = canary_mod.twin(canaries) if vary == "canaries" else canaries
    names = set(sweep_values or {})
    b_sweep = {k: v for k, v in twin.named().items() if k in names}
    a_sweep = {k: v for k, v in canaries.named().items() if k in names}
    ident = vary == "identifiers"
    if ident:
        if lab_identifiers is None:
            raise ValueError("identifiers can only be varied for a device whose firmware the lab runs")
        varied = lab_identifiers.varied(canary_mod.twin_identifiers(lab_identifiers.identifiers))
    else:
        varied = nullcontext()
    with varied:
        wb, tb = _run(window, "b", twin, reset, entitle, b_sweep, ident, on_closed)
    wr, tr = _run(window, "r", canaries, reset, entitle, a_sweep, ident, on_closed)
    result = compare(a_traffic.flows, tb.flows, tr.flows, entitle(first_visit(window)), min_opaque=min_opaque)
    return Runs(vary, (window, wb, wr), (a_traffic, tb, tr), twin, result)


def finding_rows(runs: Runs) -> list[dict]:
    """The parts that move with the values, as finding rows (the shape of `Finding.to_dict`, with
    `kind`): their flow is run A's, their chain `differential`, since no decoder undid them."""
    flows = {f.id: f for f in runs.traffic[0].flows}
    rows = []
    for m in runs.result.correlated:
        flow = flows.get(m.flows[0])
        rows.append({"flow": m.flows[0], "canary": f"the varied {runs.varied}", "host": m.host,
                     "server_ip": sent_of_flow(flow).server_ip if flow is not None else None,
                     "location": m.location, "chain": ["differential"], "excerpt": m.detail,
                     "capture": None, "kind": "correlated"})
    return rows


def evidence_text(runs: Runs) -> str:
    """What the report shows of a differential run: the summary, the table, each moving part side by side."""
    flows = {f.id: f for t in runs.traffic for f in t.flows}
    out = [runs.summary(), "", render_text(runs.result)]
    for m in (*runs.result.correlated, *runs.result.opaque):
        out += ["", side_by_side(m, flows)]
    return "\n".join(out) + "\n"
