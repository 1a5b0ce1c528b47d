"""Steps that judge the window's traffic. Reading it closes the window and checks the
positive controls first: a window the capture cannot vouch for is broken, never passed.
Each check also asks the run-wide sweep to look for the same values in everything the
device sends until the end of the run (a late copy fails this scenario then). A scenario
tagged @differential whose values were found nowhere as sent runs its actions twice more
(`differential_run`): what moves with the values is a finding too, even unreadable."""

from __future__ import annotations

import json

import allure
import pytest
from pytest_bdd import then

from telltale import evidence, judge, replay
from telltale import redact as redaction
from telltale.browser import Visit
from telltale.canaries import ScenarioCanaries
from telltale.errors import CaptureBroken, NoVerdict
from telltale.inventory import Device
from telltale.window import Window


def _verdict(result: judge.LeakCheck, what: str, window: Window, request: pytest.FixtureRequest,
             differential=None, vary: str = "canaries", entitle: replay.Entitle | None = None) -> None:
    """Findings fail the scenario (with evidence); then, for a differential scenario, the parts that
    move with the values; unexamined bytes and unaccepted opaque parts leave it broken."""
    rows = [f.to_dict() for f in result.findings]
    runs = None
    if not rows and differential is not None and entitle is not None:
        runs = differential(vary, entitle, window.swept)
        if runs is not None:
            rows = replay.finding_rows(runs)
    if window.redact:
        rows = [redaction.finding_row(r) for r in rows]
    allure.attach(evidence.findings_table(rows), "findings", allure.attachment_type.TEXT)
    if rows:
        allure.attach(json.dumps(rows, indent=1), "findings.json", allure.attachment_type.JSON)
        allure.attach(evidence.offending_requests(window.traffic().flows, rows, window.redact,
                                                  window.keep),
                      "offending requests (decoded matches)", allure.attachment_type.TEXT)
        raise AssertionError(f"{what}:\n" + evidence.findings_lines(rows))
    result.require_examined()
    if runs is not None and runs.result.opaque:
        pol = request.getfixturevalue("destination_policy")
        unaccepted = [m for m in runs.result.opaque if pol.acceptance("opaque", m.host) is None]
        if unaccepted:
            raise CaptureBroken("the differential run cannot judge parts that change even between identical "
                                "runs (opaque; policy.yaml accepts none of them):\n"
                                + "\n".join(f"- {m.detail}" for m in unaccepted))


@then("no other host received the visited URL")
def no_other_host_got_url(capture_window: Window, canaries: ScenarioCanaries, visited: Visit,
                          request: pytest.FixtureRequest, differential_run) -> None:
    """The visited URL, its host or its path reached no host but the visited one, in any encoding."""
    _leak_check(capture_window, canaries.named(), judge.same_host(visited.host),
                f"the visited URL of {visited.host} reached other hosts", request, differential_run,
                lambda v: judge.same_host(v.host if v else visited.host))


@then("no third party received the search term")
def no_third_party_got_term(capture_window: Window, canaries: ScenarioCanaries, searched: Visit,
                            request: pytest.FixtureRequest, differential_run) -> None:
    """The search term reached no host outside the engine's registrable domain, in any encoding."""
    _leak_check(capture_window, canaries.named(), judge.same_party_as(searched.host),
                f"the search term typed on {searched.host} reached third parties", request, differential_run,
                lambda v: judge.same_party_as(searched.host))


def _leak_check(window: Window, values: dict[str, str], allowed: judge.Entitled, what: str,
                request: pytest.FixtureRequest, differential, entitle: replay.Entitle) -> None:
    """The window's traffic judged for `values` (the run-wide sweep looks for them too)."""
    traffic = window.traffic()
    window.sweep_for(values, allowed)
    _verdict(judge.check(traffic.flows, values, allowed=allowed), what, window, request, differential,
             "canaries", entitle)


@then("no device identifier was sent")
def no_identifier_sent(capture_window: Window, device: Device, request: pytest.FixtureRequest,
                       differential_run) -> None:
    """No host is entitled to a device identifier, plain or hashed."""
    if not device.identifiers:
        raise NoVerdict(f"device {device.name} lists no identifiers in devices.yaml: "
                            "nothing to look for, so no verdict")
    traffic = capture_window.traffic()
    capture_window.sweep_for({}, judge.nobody, identifiers=True)
    result = judge.check(traffic.flows, {}, allowed=judge.nobody, identifiers=device.identifiers)
    _verdict(result, f"identifiers of {device.name} were sent", capture_window, request, differential_run,
             "identifiers", lambda v: judge.nobody)
