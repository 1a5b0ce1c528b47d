"""Country evidence from two independent offline sources: every answer shown with its dataset and
date, and a disagreement never a silent pass. The addresses' answers are those of the pinned data
(DB-IP Lite 2026-06, geo-whois-asn-country 2026-06): 93.184.216.34 is PL in one and US in the other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy import io

from telltale.destinations import geo, rules, transport
from telltale.destinations.datasets import node_modules
from telltale.destinations.policy import Policy
from telltale.domains import registrable_domain, same_party

from .helpers import offline, request

ROOT = Path(__file__).resolve().parents[2]
CONTESTED = "93.184.216.34"  # PL (location) / US (registry)
AGREED_US = "8.8.8.8"  # US in both
AGREED_RU = "77.88.55.60"  # RU in both
HALF_KNOWN = "155.11.202.22"  # US (location); the registry set does not list it


@pytest.fixture(scope="module")
def lk() -> rules.Lookups:
    if not (node_modules() / "@ip-location-db/geo-whois-asn-country-mmdb").is_dir():
        pytest.fail("run `telltale setup` first (npm ci): the registry-based country set is missing")
    return rules.lookups_for(Policy())


def countries(flows, lk, forbidden) -> rules.RuleResult:
    return rules.check_countries(rules.Traffic(transport.contacts(flows)), Policy(forbidden=tuple(forbidden)),
                                 lk)


def test_both_sources_answer_with_their_dataset_and_date(lk):
    ev = lk.country(CONTESTED)
    got = [(a.dataset, a.kind, a.country) for a in ev.answers]
    assert got == [("dbip-country-lite", "location", "PL"), ("geo-whois-asn-country", "registry", "US")]
    assert all(a.date.startswith("2026-06-") for a in ev.answers)
    assert ev.disagree and ev.codes == ("PL", "US") and ev.short == "PL|US"
    dates = [a.date for a in ev.answers]
    assert str(ev) == (f"PL (dbip-country-lite {dates[0]}) / US (geo-whois-asn-country {dates[1]}): "
                       "sources disagree")
    assert [(d.name, d.kind) for d in lk.geo.datasets] == [("dbip-country-lite", "location"),
                                                          ("geo-whois-asn-country", "registry")]


@pytest.mark.parametrize("forbidden", ["US", "PL"])
def test_either_sources_forbidden_country_flags_it_and_says_they_disagree(lk, forbidden):
    result = countries([offline("https://example.org/", CONTESTED)], lk, (forbidden,))
    (v,) = result.violations
    assert (v.host, v.ip, v.country) == ("example.org", CONTESTED, forbidden)
    assert "sources disagree" in v.matched
    assert "PL (dbip-country-lite 2026-06-" in v.matched and "US (geo-whois-asn-country 2026-06-" in v.matched
    assert [(a["dataset"], a["country"]) for a in v.to_dict()["countries"]] == [
        ("dbip-country-lite", "PL"), ("geo-whois-asn-country", "US")]
    text = result.table()
    assert "PL|US" in text and f"{CONTESTED}: PL (dbip-country-lite" in text
    assert geo.ATTRIBUTION in text and geo.REGISTRY_ATTRIBUTION in text
    # contested, but neither source says a forbidden country: a pass
    assert countries([offline("https://example.org/", CONTESTED)], lk, ("RU",)).passed


def test_clean_twins_where_the_sources_agree(lk):
    assert countries([request("https://dns.google/", AGREED_US)], lk, ("RU",)).passed
    (v,) = countries([request("https://yandex.ru/", AGREED_RU)], lk, ("RU",)).violations
    assert v.country == "RU" and "disagree" not in v.matched
    assert "RU (dbip-country-lite 2026-06-" in v.matched and "RU (geo-whois-asn-country 2026-06-" in v.matched
    assert v.where == "RU"


def test_one_source_unknown_the_known_one_counts_and_the_unknown_is_shown(lk):
    ev = lk.country(HALF_KNOWN)
    assert ev.codes == ("US",) and not ev.disagree and ev.short == "US|?"
    (v,) = countries([request("https://half.example.com/", HALF_KNOWN)], lk, ("US",)).violations
    assert "US (dbip-country-lite" in v.matched and "unknown (geo-whois-asn-country" in v.matched
    assert "disagree" not in v.matched
    assert countries([request("https://half.example.com/", HALF_KNOWN)], lk, ("RU",)).passed


def test_a_users_database_replaces_the_default_of_its_kind_only(lk):
    registry_file = geo.registry().path
    own = geo.open_mmdb(registry_file, "location", "own-location")
    srcs = geo.sources(own=own)
    assert [d.name for d in srcs.datasets] == ["own-location", "geo-whois-asn-country"]


def test_ip_literal_hosts_are_their_own_domain_and_party():
    assert registrable_domain("8.8.8.8") == "8.8.8.8"
    for spelling in ("[2001:4860:4860::8888]", "2001:4860:4860::8888", "2001:4860:4860:0::8888"):
        assert registrable_domain(spelling) == "[2001:4860:4860::8888]", spelling
    assert registrable_domain("::ffff:8.8.8.8") == "8.8.8.8"
    assert same_party("[2001:4860:4860::8888]", "2001:4860:4860::8888")
    assert not same_party("8.8.4.4", "8.8.8.8") and not same_party("[2001:4860:4860::8844]",
                                                                   "[2001:4860:4860::8888]")
    assert registrable_domain("10.0.0") == "10.0.0", "an address in a short form is no name under 0"


# Through the real command line: a capture and a policy, as a user would give them.
POLICY = """\
defaults:
  forbidden_countries: [United States]
"""


def _capture(tmp_path: Path) -> Path:
    cap = tmp_path / "phone-1.mitm"
    with open(cap, "wb") as fo:
        w = io.FlowWriter(fo)
        for f in (offline("https://contested.example.org/collect", CONTESTED),
                  request("https://yandex.ru/", AGREED_RU),
                  request(f"https://{AGREED_US}/dns-query", AGREED_US),
                  request("https://[2001:4860:4860::8888]/dns-query", "2001:4860:4860::8888")):
            w.add(f)
    return cap


def _telltale(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "telltale.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_scan_reports_the_disagreement_with_both_sources(lk, tmp_path):
    cap = _capture(tmp_path)
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    proc = _telltale("scan", str(cap), "--policy", str(pol), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = {f["host"]: f for f in json.loads(proc.stdout)["destinations"] if f["rule"] == "countries"}
    assert set(found) == {"contested.example.org", AGREED_US, "2001:4860:4860::8888"}, found
    c = found["contested.example.org"]
    assert (c["verdict"], c["ip"], c["country"]) == ("violation", CONTESTED, "US")
    assert "sources disagree" in c["matched"]
    assert [(a["dataset"], a["country"], a["date"][:8]) for a in c["countries"]] == [
        ("dbip-country-lite", "PL", "2026-06-"), ("geo-whois-asn-country", "US", "2026-06-")]
    assert "disagree" not in found[AGREED_US]["matched"]  # US in both: flagged, not contested
    assert "CA (dbip-country-lite" in found["2001:4860:4860::8888"]["matched"]  # CA / US: contested
    assert "sources disagree" in found["2001:4860:4860::8888"]["matched"]


def test_destinations_shows_both_answers_ip_literal_domains_and_each_dataset(lk, tmp_path):
    cap = _capture(tmp_path)
    proc = _telltale("destinations", str(cap), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["host"]: r for r in json.loads(proc.stdout)["destinations"]}
    c = rows["contested.example.org"]
    assert c["country"] == "PL|US" and c["domain"] == "example.org"
    assert [(a["ip"], a["dataset"], a["country"]) for a in c["countries"]] == [
        (CONTESTED, "dbip-country-lite", "PL"), (CONTESTED, "geo-whois-asn-country", "US")]
    assert all(a["date"].startswith("2026-06-") for a in c["countries"])
    assert rows["yandex.ru"]["country"] == "RU"
    assert rows[AGREED_US]["domain"] == AGREED_US
    assert rows["2001:4860:4860::8888"]["domain"] == "[2001:4860:4860::8888]"
    text = _telltale("destinations", str(cap))
    assert text.returncode == 0, text.stderr
    data = text.stdout[text.stdout.index("\ndata: "):]
    registry = next(line for line in data.splitlines() if "geo-whois-asn-country:" in line)
    assert "2026-06-" in registry and "CC BY 4.0" in registry and "nro.net" in registry
    assert "dbip-country-lite:" in data and geo.ATTRIBUTION in data
