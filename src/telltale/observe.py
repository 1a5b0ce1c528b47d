"""Whole-run observation of a device: the nudge, the drain, and the sweep that ends the run.

After a device's last scenario the lab does what makes real telemetry leave (the browser
is closed and reopened, as a user backgrounds and restarts an app), then keeps capturing
for the device's drain, counting down so a long drain does not look hung. Then every
canary of every scenario is looked for in everything the device sent all run (the
window flows, the gaps, the drain, and what only the packet record saw), and the late
leaks are written into the scenarios' results (verdicts.py).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mitmproxy.flow import Flow

from telltale import evidence, sweep, verdicts
from telltale.capture import store
from telltale.capture.proxy import CaptureProxy, WindowSpan


# Set when the run is interrupted (SIGINT/SIGTERM): waits end at once, the drain is skipped.
INTERRUPTED = threading.Event()


def countdown(seconds: float, what: str, say: Callable[[str], None] | None = None,
              every: float = 10.0, sleep: Callable[[float], None] | None = None) -> None:
    """Wait `seconds`, saying how long is left every `every` seconds (and at the start); an
    interruption ends the wait."""
    say = say or (lambda m: print(f"telltale: {m}", file=sys.__stderr__, flush=True))
    end = time.monotonic() + seconds
    while not INTERRUPTED.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return
        say(f"{what}: {left:.0f} s left")
        if sleep is not None:
            sleep(min(every, left))
        else:
            INTERRUPTED.wait(min(every, left))


@dataclass
class Observation:
    """One device's record of the run: its nudges, its drain, what the sweep found."""

    device: str
    drain: float
    nudges: list[dict] = field(default_factory=list)
    drain_span: WindowSpan | None = None
    late: tuple[sweep.LateLeak, ...] = ()
    observed: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def nudge(self, what: str, action: Callable[[], object]) -> None:
        t = time.time()
        try:
            action()
            self.nudges.append({"nudge": what, "time": t})
        except Exception as e:  # noqa: BLE001 - a failed nudge is recorded, the drain still runs
            self.nudges.append({"nudge": what, "time": t, "error": str(e)})

    def to_dict(self) -> dict:
        return {"device": self.device, "drain_seconds": self.drain, "nudges": self.nudges,
                "drain": None if self.drain_span is None else {
                    "window": self.drain_span.window, "opened": self.drain_span.opened,
                    "closed": self.drain_span.closed},
                "late_leaks": [leak.to_dict() for leak in self.late], "observed_after_action": self.observed,
                "problems": self.problems}


def drain(proxy: CaptureProxy, obs: Observation, say: Callable[[str], None] | None = None) -> None:
    """Capture for the drain in a window of its own (its flows are tagged `drain-<device>`)."""
    proxy.open_window(f"drain-{obs.device}")
    countdown(obs.drain, f"drain of {obs.device} (watching for late telemetry)", say)
    obs.drain_span = proxy.close_window()


def run_flows(captures: Sequence[Path], witness=None, windows: Sequence[tuple[str, float, float]] = ()
              ) -> tuple[list[Flow], list[str]]:
    """Every flow of the device's run, and what the packet record alone saw (tagged by time);
    with the records that could not be read, named."""
    flows: list[Flow] = []
    problems: list[str] = []
    for cap in captures:
        if not cap.exists():
            continue
        for rec in store.read_records(cap):
            if rec.error is not None:
                problems.append(str(rec.error))
            elif rec.flow is not None:
                flows.append(rec.flow)
    if witness is not None:
        from telltale.destinations.transport import events_file, read_events

        # one events file per device, beside its capture files
        events = list(read_events(events_file(captures[0]))) if captures else []
        escaped, witness_problems = witness.whole_run(flows, events)
        problems += witness_problems
        for f in escaped:
            t = sweep.flow_time(f)
            f.metadata[store.WINDOW_KEY] = next((w for w, a, b in windows if t is not None and a <= t <= b),
                                                None)
        flows += escaped
    return flows, problems


def redact_values(ledger: sweep.Ledger, identifiers: dict[str, str]):
    """Redaction's `keep` for the device's whole run: every canary its scenarios looked for."""
    from telltale import redact

    values = {f"{e.window}.{k}": v for e in ledger.expectations for k, v in e.canaries.items()}
    return redact.keeper(values, identifiers)


def finish(obs: Observation, ledger: sweep.Ledger, flows: Sequence[Flow], identifiers: dict[str, str],
           results_dir: Path | None, out: Path, redact: bool = True) -> Callable[[], list[str]]:
    """Sweep and record now; returns what writes the final verdicts into the results (call it
    once every result of the device is written), which gives the scenarios that now fail."""
    obs.late = sweep.sweep(flows, ledger.expectations, identifiers)
    until = obs.drain_span.closed if obs.drain_span and obs.drain_span.closed else time.time()
    obs.observed = sweep.observed(ledger.expectations, until)
    # A scenario with no leak check (destination rules) is judged on its window alone: said so.
    window_only = {w: f"{b - a:.1f} s (its window only: these rules judge the window)"
                   for w, a, b in ledger.windows if w not in obs.observed}
    out.write_text(json.dumps(obs.to_dict(), indent=1), encoding="utf-8")
    if results_dir is None:
        return list
    by_window: dict[str, list[dict]] = {}
    for leak in obs.late:
        by_window.setdefault(leak.window, []).append({"flow": leak.flow, "canary": leak.canary,
                                                      "location": leak.location, "excerpt": leak.excerpt})
    keep = redact_values(ledger, identifiers) if redact else None
    texts = {w: evidence.offending_requests(flows, rows[:50], redact, keep) for w, rows in by_window.items()}
    unseen: dict[str, list[str]] = {}
    for f in flows:  # TCP only the packet record saw, over the whole run (a window could not tell)
        label = str(f.metadata.get(store.UNEXAMINED_KEY) or "")
        if label.startswith("tcp") and store.window_of(f):
            unseen.setdefault(store.window_of(f), []).append(label)
    observed = {w: f"{s:.0f} s (its window, the rest of the run and a drain of {obs.drain:g} s)"
                for w, s in obs.observed.items()} | window_only
    return lambda: verdicts.apply(results_dir, obs.late, observed, texts, unseen, obs.device)
