"""policy.yaml validation and merging; the tracker and country data behind the rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from telltale.destinations import geo, policy, trackers
from telltale.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_checkout_policy_is_valid():
    pol = policy.resolve(policy.load(ROOT / "policy.yaml"), device="local-chromium")
    assert pol.forbidden == ("SG", "RU") and pol.allows("tt-abc.example.net")


@pytest.mark.parametrize("text, message", [
    ("defaults:\n  allow: [a.example]\n  forbidden_countries: [Narnia]\n",
     "policy.yaml:3: defaults.forbidden_countries: unknown country 'Narnia'"),
    ("defaults:\n  alow: [a.example]\n", "policy.yaml:2: defaults.alow: Extra inputs are not permitted"),
    ("devices:\n  phone:\n    accept_unexamined:\n      - name: x\n        hosts: [a.example]\n"
     "        kinds: [everything]\n        reason: why not\n",
     "policy.yaml:6: devices.phone.accept_unexamined.0.kinds.0: Input should be"),
    ("defaults:\n  accept_unexamined:\n    - name: x\n      kinds: [udp]\n      reason: no hosts\n",
     "policy.yaml:3: defaults.accept_unexamined.0.hosts: Field required"),
    ("defaults: [\n", "policy.yaml:2: not valid YAML"),
])
def test_errors_name_file_line_and_field(tmp_path, text, message):
    f = tmp_path / "policy.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        policy.load(f)
    assert str(e.value).startswith(f"{f}{message[len('policy.yaml'):]}"), str(e.value)
    assert "\n" not in str(e.value)


def test_sections_add_up_from_defaults_to_feature(tmp_path):
    f = tmp_path / "policy.yaml"
    f.write_text("defaults:\n  allow: [a.example]\n  forbidden_countries: [Singapore]\n"
                 "firmware:\n  'MIUI 12*': {allow: [b.example], first_party: mi.com}\n"
                 "devices:\n  redmi: {forbidden_countries: [RUS]}\n"
                 "features:\n  incognito: {allow: [c.example]}\n")
    pf = policy.load(f)
    pol = policy.resolve(pf, device="redmi", firmware="MIUI 12.0.3", feature=("incognito", "Incognito"),
                         source=f)
    assert pol.allow == ("a.example", "b.example", "c.example")
    assert pol.forbidden == ("SG", "RU")
    assert pol.allows("www.mi.com") == "first party mi.com"
    assert pol.sections == ("defaults", "firmware MIUI 12*", "device redmi", "feature incognito")
    plain = policy.resolve(pf, device="pixel", firmware="Android 15")
    assert plain.allow == ("a.example",) and plain.allows("www.mi.com") is None


def test_country_names_and_codes():
    assert geo.parse_countries('"Singapore, Russia"') == ("SG", "RU")
    assert geo.parse_countries("sg and RUS") == ("SG", "RU")
    with pytest.raises(ValueError, match="Atlantis"):
        geo.parse_countries("Atlantis")


def test_geo_answers_ipv4_ipv6_mapped_and_refuses_non_public():
    db = geo.default()
    assert db.dataset.kind == "location" and db.dataset.date.startswith("2026")
    assert db.country("47.241.10.20").country == "SG"  # a cloud's Singapore range, located
    assert db.country("::ffff:47.241.10.20").country == "SG"
    assert db.country("2a02:6b8::2:242").country == "RU"
    for ip in ("127.0.0.1", "192.168.1.1", "fe80::1", "2001:db8::5", "not-an-ip", None):
        assert db.country(ip).country is None


def test_a_users_own_mmdb_is_read_with_maxminds_layout(tmp_path):
    """GeoIP2's layout (country.iso_code): written here with the ip-location-db default's data."""
    with pytest.raises(ConfigError, match="no such IP->country database"):
        geo.open_mmdb(tmp_path / "missing.mmdb")
    assert geo._code_of({"country": {"iso_code": "sg"}, "registered_country": {"iso_code": "US"}}) == "SG"
    assert geo._code_of({"country_code": "RU"}) == "RU"
    assert geo._code_of(None) is None


def test_adblock_rules_are_read_only_when_they_name_a_whole_host():
    names, wild, exc = trackers.parse_host_rules([
        "! comment", "||tracker.example^", "||thirdparty.example^$third-party",
        "||sitebound.example^$domain=news.example", "||path.example/collect", "example.org##.ad",
        "||cancelled.example^", "||cancelled.example^$badfilter", "@@||spared.example^", "||spared.example^",
        "||tracking.*.vendor.example^", "plainhost.example",
    ])
    assert names == {"tracker.example", "thirdparty.example", "plainhost.example"}
    assert wild == {"tracking.*.vendor.example"}
    assert exc == {"spared.example"}


def test_every_curated_oem_host_cites_a_known_source():
    doc = yaml.safe_load((Path(trackers.__file__).with_name("data") / "oem_telemetry.yaml").read_text())
    assert doc["hosts"], "empty list"
    for entry in doc["hosts"]:
        assert entry["sources"] and set(entry["sources"]) <= set(doc["sources"]), entry
    for src in doc["sources"].values():
        assert src["url"].startswith("https://") and src["date"]
    oem = trackers.oem()
    assert oem.match("sa.api.intl.miui.com") and oem.match("tracking.intl.miui.com")
    assert oem.match("miui.com") is None and oem.match("www.example.net") is None


def test_adguard_dataset_records_version_date_and_licence():
    lst = trackers.adguard()
    assert lst.dataset.licence.startswith("GPL-3.0") and lst.dataset.date.startswith("20")
    assert len(lst) > 10_000
    assert lst.match("tracking.intl.miui.com").rule == "tracking.*.miui.com"


def test_wildcards_match_within_and_across_labels():
    ds = trackers.oem().dataset
    lst = trackers.HostList(ds, frozenset({"plain.example"}),
                            ("acr-*-prd.tvcloud.example", "tracking.*.vendor.example",
                             "*cdn-settings.sdk.example"))
    assert lst.match("acr-eu-prd.tvcloud.example").rule == "acr-*-prd.tvcloud.example"
    assert lst.match("x.tracking.a.b.vendor.example").rule == "tracking.*.vendor.example"
    assert lst.match("eu-cdn-settings.sdk.example").rule == "*cdn-settings.sdk.example"
    assert lst.match("sub.plain.example").rule == "plain.example"
    for miss in ("tracking.vendor.example", "acr-prd.tvcloud.example", "plain.example.org", "example"):
        assert lst.match(miss) is None, miss
