"""RULES is what the steps and `telltale scan --policy` walk: a rule registered there is applied by both,
under its name, with the one signature every rule has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from mitmproxy import io

from telltale.destinations import cli, rules, transport
from telltale.destinations.policy import Policy

from .helpers import request

ROOT = Path(__file__).resolve().parents[2]
PROBE = "probe"


def _probe(name: str, calls: list):
    """A rule that flags every host it is given, and records what it was given."""

    def judge(traffic: rules.Traffic, policy: Policy, lk: rules.Lookups) -> rules.RuleResult:
        calls.append((traffic, policy, lk))
        rows = (rules.RuleFinding(name, "violation", c.host or "?", c.ip or "?", "?", "probed", c.url)
                for c in traffic.contacts)
        return rules.RuleResult(name, tuple(rows))
    return judge


def test_every_rule_has_the_one_signature_and_carries_its_name():
    seen = rules.Traffic(transport.contacts([request("http://a.example.org/", "8.8.8.8")]),
                         transport.tls_refusals([{"sni": "pinned.example.org"}]), seconds=60)
    for name, rule in rules.RULES.items():
        result = rule.judge(seen, Policy(forbidden=("US",), budget_per_host=0), rules.Lookups())
        assert isinstance(result, rules.RuleResult) and result.rule == name
        assert result.findings and all(isinstance(f, rules.RuleFinding) and f.rule == name
                                       for f in result.findings), name


def test_scan_applies_a_registered_rule(tmp_path, monkeypatch):
    cap = tmp_path / "phone-1.mitm"
    with open(cap, "wb") as fo:
        io.FlowWriter(fo).add(request("https://collector.example.org/c", "8.8.8.8"))
    pol = tmp_path / "policy.yaml"
    pol.write_text("defaults: {}\n")
    calls: list = []
    monkeypatch.setitem(rules.RULES, PROBE, rules.Rule(_probe(PROBE, calls), in_scan=lambda p: True))
    found, errors = cli.scan_findings([str(cap)], str(pol))
    assert errors == []
    assert [(f.rule, f.host) for f in found if f.rule == PROBE] == [(PROBE, "collector.example.org")]
    monkeypatch.setitem(rules.RULES, PROBE, rules.Rule(_probe(PROBE, calls)))  # not for a scan
    found, _ = cli.scan_findings([str(cap)], str(pol))
    assert not [f for f in found if f.rule == PROBE] and len(calls) == 1


def _window(tmp_path):
    """What a step reads of a capture window: its flows, refused handshakes, span and visits."""
    flows = (request("https://collector.example.org/c", "8.8.8.8"),)
    span = SimpleNamespace(tls_failures=[{"event": "tls_failed_client", "sni": "pinned.example.org"}],
                           opened=100.0, closed=160.0)
    traffic = SimpleNamespace(flows=flows, span=span)
    return SimpleNamespace(traffic=lambda judge_tls_refusals=False: traffic, idle=None,
                           visits=[SimpleNamespace(host="www.shop.example")])


@pytest.mark.parametrize("step, name, args", [
    ("only_allowed_hosts", rules.ALLOWLIST, ()),
    ("no_known_tracker", rules.TRACKERS, ()),
    ("no_named_country", rules.COUNTRIES, ("Singapore, Russia",)),
    ("no_forbidden_country", rules.COUNTRIES, ()),
    ("all_encrypted", rules.ENCRYPTION, ()),
    ("within_budget", rules.BUDGET, ()),
    ("nothing_unexamined", rules.UNEXAMINED, ()),
])
def test_each_step_applies_the_rule_registered_under_its_name(tmp_path, monkeypatch, step, name, args):
    from steps import destinations as steps

    calls: list = []
    monkeypatch.setitem(rules.RULES, name, rules.Rule(_probe(name, calls)))
    with pytest.raises(AssertionError, match="collector.example.org"):
        getattr(steps, step)(_window(tmp_path), Policy(budget_per_host=1, forbidden=("SG", "RU")), *args)
    ((traffic, policy, _),) = calls
    assert [c.host for c in traffic.contacts] == ["collector.example.org"]
    assert [u.host for u in traffic.refused] == ["pinned.example.org"] and traffic.seconds == 60.0
    assert policy.allows("cdn.shop.example"), "the scenario's own site is a first party"
    if name == rules.COUNTRIES:
        assert policy.forbidden == ("SG", "RU"), "the step's countries (named, or policy.yaml's)"


def test_the_pure_rules_and_the_party_logic_import_no_device_code():
    """domains.py stands alone; the rules reach neither the capture window nor Appium."""
    code = ("import sys, telltale.domains\n"
            "own = sorted(m for m in sys.modules if m.startswith('telltale'))\n"
            "assert own == ['telltale', 'telltale.domains'], own\n"
            "import telltale.destinations.rules\n"
            "bad = [m for m in sys.modules if m == 'telltale.window' or m.split('.')[0] == 'appium']\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_policy_country_step_without_forbidden_countries_gives_no_verdict(tmp_path):
    from steps import destinations as steps

    from telltale.errors import PolicyCannotJudge

    with pytest.raises(PolicyCannotJudge, match="forbids no country"):
        steps.no_forbidden_country(_window(tmp_path), Policy())
