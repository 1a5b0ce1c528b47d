"""Steps that judge where the window's traffic went and how: allowlist, trackers, server
countries, plaintext, unexamined traffic, data budget. Each phrase names a rule of
telltale.destinations.rules.RULES and judges the window's traffic with it.

A proven breach fails the scenario (with a table of host, IP, country and the list that
matched); traffic a rule cannot judge (unknown server, refused TLS, raw UDP) leaves it
broken unless policy.yaml accepts it by name.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import allure
import pytest
from pytest_bdd import parsers, then

from fixtures.bdd import scenario_of
from fixtures.run import RunContext
from telltale.destinations import geo, policy, rules, transport
from telltale.errors import CaptureBroken, ConfigError, PolicyCannotJudge
from telltale.inventory import Device
from telltale.window import Window


@pytest.fixture
def destination_policy_file(telltale_run: RunContext) -> Path:
    """policy.yaml beside devices.yaml (a test suite may point elsewhere by overriding this)."""
    return telltale_run.layout.root / policy.POLICY_FILE


def _feature_keys(request: pytest.FixtureRequest) -> tuple[str, ...]:
    tmpl = scenario_of(request.node)
    if tmpl is None:
        return ()
    return (Path(tmpl.feature.filename).stem, tmpl.feature.name)


@pytest.fixture
def destination_policy(request: pytest.FixtureRequest, destination_policy_file: Path,
                       device: Device) -> policy.Policy:
    """The policy in force for this scenario on this device (defaults, firmware, device, feature)."""
    if not destination_policy_file.is_file():
        return policy.Policy(source="built-in defaults (no policy.yaml)")
    try:
        pf = policy.load(destination_policy_file)
    except ConfigError as e:
        raise PolicyCannotJudge(f"no destination verdict: {e}") from None
    return policy.resolve(pf, device=device.name, firmware=device.firmware, feature=_feature_keys(request),
                          source=destination_policy_file)


def _traffic(window: Window) -> rules.Traffic:
    """The window's traffic as the rules judge it. Refused TLS alone does not stop here: the rules
    judge it against the policy's named acceptances. Anything else the capture cannot vouch for
    stays broken."""
    t = window.traffic(judge_tls_refusals=True)
    watched = window.idle or ((t.span.closed or 0) - (t.span.opened or 0))
    return rules.Traffic(transport.contacts(t.flows), transport.tls_refusals(t.span.tls_failures),
                         watched if watched > 0 else None)


def _first_parties(window: Window) -> tuple[str, ...]:
    return tuple(v.host for v in window.visits)


def _verdict(result: rules.RuleResult, what: str) -> None:
    text = result.table()
    allure.attach(text, f"destinations: {result.rule}", allure.attachment_type.TEXT)
    if result.findings:
        allure.attach(json.dumps([f.to_dict() for f in result.findings], indent=1),
                      f"destinations-{result.rule}.json", allure.attachment_type.JSON)
    if result.violations:
        raise AssertionError(f"{what}:\n{text}")
    if result.unexamined:
        raise CaptureBroken(f"no verdict on {result.rule}: traffic could not be judged and no "
                            f"acceptance in policy.yaml names it:\n{text}")


def _judge(rule: str, window: Window, pol: policy.Policy, what: str,
           traffic: rules.Traffic | None = None) -> None:
    """The registered rule `rule` on the window's traffic, under the policy in force with the
    scenario's own sites as first parties; `what` heads the failure."""
    t = traffic if traffic is not None else _traffic(window)
    _verdict(rules.judge(rule, t, pol.with_first_parties(_first_parties(window))), what)


@then("no traffic goes to hosts outside the allowlist")
def only_allowed_hosts(capture_window: Window, destination_policy: policy.Policy) -> None:
    """Every host reached is allowed in policy.yaml or is the scenario's own first party."""
    _judge(rules.ALLOWLIST, capture_window, destination_policy, "traffic went to hosts outside the allowlist")


@then("no request reaches a known tracker")
def no_known_tracker(capture_window: Window, destination_policy: policy.Policy) -> None:
    """No host reached is named by a tracker list (AdGuard Tracking Protection, OEM telemetry)."""
    _judge(rules.TRACKERS, capture_window, destination_policy, "requests reached known trackers")


@then("no data is sent to servers in the countries policy.yaml forbids")
def no_forbidden_country(capture_window: Window, destination_policy: policy.Policy) -> None:
    """No server reached is located in a country policy.yaml forbids (for this device and feature);
    a server of unknown place is no pass."""
    if not destination_policy.forbidden:
        raise PolicyCannotJudge("no verdict: policy.yaml forbids no country for this device")
    _countries(capture_window, destination_policy, destination_policy.forbidden)


@then(parsers.parse("no data is sent to servers in {countries}, whatever policy.yaml forbids"))
def no_named_country(capture_window: Window, destination_policy: policy.Policy, countries: str) -> None:
    """No server reached is located in the countries named here (they replace policy.yaml's list for
    this scenario); a server of unknown place is no pass."""
    try:
        forbidden = geo.parse_countries(countries)
    except ValueError as e:
        raise PolicyCannotJudge(f"no verdict: {e}") from None
    _countries(capture_window, destination_policy, forbidden)


def _countries(window: Window, pol: policy.Policy, forbidden: tuple[str, ...]) -> None:
    names = ", ".join(geo.country_name(c) for c in forbidden)
    _judge(rules.COUNTRIES, window, replace(pol, forbidden=tuple(forbidden)),
           f"data was sent to servers in {names}")


@then("all traffic is encrypted")
def all_encrypted(capture_window: Window, destination_policy: policy.Policy) -> None:
    """No plain HTTP, ws:// or plain DNS; raw TCP/UDP the proxy could not read is no pass."""
    _judge(rules.ENCRYPTION, capture_window, destination_policy, "traffic was sent in clear text")


@then("no destination received more than its data budget")
def within_budget(capture_window: Window, destination_policy: policy.Policy) -> None:
    """Bytes sent per destination during the soak, per hour, stay within policy.yaml's budget."""
    if destination_policy.budget_per_host is None and not destination_policy.budgets:
        raise PolicyCannotJudge("no verdict on data budget: policy.yaml sets no budget")
    t = _traffic(capture_window)
    if t.seconds is None:
        raise CaptureBroken("no verdict on data budget: the window's length is unknown")
    _judge(rules.BUDGET, capture_window, destination_policy,
           "destinations received more than their data budget", t)


@then("no traffic was left unexamined")
def nothing_unexamined(capture_window: Window, destination_policy: policy.Policy) -> None:
    """Every byte went through the proxy readable: no refused TLS (pinning), raw TCP or UDP (QUIC)."""
    _judge(rules.UNEXAMINED, capture_window, destination_policy, "traffic escaped inspection")
