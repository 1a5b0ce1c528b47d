"""Steps that judge the window's traffic. Reading it closes the window and checks the
positive controls first: a window the capture cannot vouch for is broken, never passed.
Each check also asks the run-wide sweep to look for the same values in everything the
device sends until the end of the run (a late copy fails this scenario then)."""

from __future__ import annotations

import json

import allure
from pytest_bdd import then

from telltale import evidence, judge
from telltale import redact as redaction
from telltale.browser import Visit
from telltale.canaries import ScenarioCanaries
from telltale.errors import NoVerdict
from telltale.inventory import Device
from telltale.window import Window


def _verdict(result: judge.LeakCheck, what: str, window: Window) -> None:
    """Findings fail the scenario (with evidence); unexamined bytes leave it broken."""
    rows = [f.to_dict() for f in result.findings]
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


@then("no other host received the visited URL")
def no_other_host_got_url(capture_window: Window, canaries: ScenarioCanaries, visited: Visit) -> None:
    """The visited URL, its host or its path reached no host but the visited one, in any encoding."""
    _leak_check(capture_window, canaries.named(), judge.same_host(visited.host),
                f"the visited URL of {visited.host} reached other hosts")


@then("no third party received the search term")
def no_third_party_got_term(capture_window: Window, canaries: ScenarioCanaries, searched: Visit) -> None:
    """The search term reached no host outside the engine's registrable domain, in any encoding."""
    _leak_check(capture_window, canaries.named(), judge.same_party_as(searched.host),
                f"the search term typed on {searched.host} reached third parties")


def _leak_check(window: Window, values: dict[str, str], allowed: judge.Entitled, what: str) -> None:
    """The window's traffic judged for `values` (the run-wide sweep looks for them too)."""
    traffic = window.traffic()
    window.sweep_for(values, allowed)
    _verdict(judge.check(traffic.flows, values, allowed=allowed), what, window)


@then("no device identifier was sent")
def no_identifier_sent(capture_window: Window, device: Device) -> None:
    """No host is entitled to a device identifier, plain or hashed."""
    if not device.identifiers:
        raise NoVerdict(f"device {device.name} lists no identifiers in devices.yaml: "
                            "nothing to look for, so no verdict")
    traffic = capture_window.traffic()
    capture_window.sweep_for({}, judge.nobody, identifiers=True)
    result = judge.check(traffic.flows, {}, allowed=judge.nobody, identifiers=device.identifiers)
    _verdict(result, f"identifiers of {device.name} were sent", capture_window)
