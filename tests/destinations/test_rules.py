"""Each destination and transport rule, with a capture that passes and one that fails."""

from __future__ import annotations

import pytest
from mitmproxy.test import tflow

from telltale.destinations import geo, rules, transport
from telltale.destinations.policy import Policy, parse, resolve

from .helpers import offline, request

SG, RU, US = "47.241.10.20", "77.88.55.60", "8.8.8.8"
RU6 = "2a02:6b8::2:242"  # Yandex, Moscow


@pytest.fixture(scope="module")
def lk(ready_data) -> rules.Lookups:
    return rules.lookups_for(Policy())


@pytest.fixture(scope="module")
def ready_data():
    from telltale.destinations.datasets import node_modules

    if not (node_modules() / "@ip-location-db").is_dir():
        pytest.fail("run `telltale setup` first (npm ci): the offline datasets are missing")


def policy(text: str) -> Policy:
    return resolve(parse(text))


def cs(*flows):
    return transport.contacts(flows)


def seen(*flows, refused=(), seconds=None) -> rules.Traffic:
    return rules.Traffic(transport.contacts(flows), tuple(refused), seconds)


NO_DATA = rules.Lookups()


# allowlist
def test_allowlist_passes_listed_hosts_and_the_first_party():
    pol = policy("defaults:\n  allow: ['*.cdn.example.org']\n").with_first_parties(("www.shop.example",))
    result = rules.check_allowlist(seen(request("https://img.cdn.example.org/a", US),
                                        request("https://api.shop.example/cart", US)), pol, NO_DATA)
    assert result.passed and result.findings == ()


def test_allowlist_fails_other_hosts_with_their_address():
    pol = policy("defaults:\n  allow: ['*.cdn.example.org']\n")
    result = rules.check_allowlist(seen(request("https://cdn.example.org/a", US),  # apex is not *.
                                        request("https://tracking.intl.miui.com/t", SG)), pol, NO_DATA)
    assert not result.passed
    assert {(v.host, v.ip) for v in result.violations} == {("cdn.example.org", US),
                                                           ("tracking.intl.miui.com", SG)}


def test_an_unknown_host_never_passes_the_allowlist():
    """A raw UDP flow with no name: even an allow-everything policy cannot clear it."""
    u = tflow.tudpflow()
    u.server_conn.address = None
    u.server_conn.sni = None
    u.server_conn.peername = None
    result = rules.check_allowlist(seen(u), policy("defaults:\n  allow: ['*']\n"), NO_DATA)
    assert not result.passed
    assert [(f.verdict, f.host) for f in result.findings] == [("unexamined", "?")]


def test_an_ip_literal_is_not_cleared_by_a_host_pattern():
    pol = policy("defaults:\n  allow: ['*.example.org']\n")
    result = rules.check_allowlist(seen(request(f"http://{SG}/x")), pol, NO_DATA)
    assert [v.host for v in result.violations] == [SG]


# trackers
def test_tracker_rule_fails_on_listed_oem_telemetry_and_names_the_list(lk):
    result = rules.check_trackers(seen(request("https://sa.api.intl.miui.com/sa?project=browser", SG),
                                       request("https://tracking.rus.miui.com/track", RU)), Policy(), lk)
    assert not result.passed
    found = {v.host: v.matched for v in result.violations}
    assert "oem-telemetry: sa.api.intl.miui.com" in found["sa.api.intl.miui.com"]
    assert "adguard-tracking-protection: tracking.*.miui.com" in found["tracking.rus.miui.com"]
    assert "SG" in result.table() and "AdGuard Tracking Protection filter" in result.table()


def test_tracker_rule_passes_hosts_no_list_names(lk):
    result = rules.check_trackers(seen(request("https://www.example.net/page", US)), Policy(), lk)
    assert result.passed


def test_a_known_tracker_is_found_on_a_subdomain(lk):
    result = rules.check_trackers(seen(request("https://region1.google-analytics.com/g/collect", US)),
                                  Policy(), lk)
    assert [v.matched for v in result.violations] == ["adguard-tracking-protection: google-analytics.com"]


# countries
def test_country_rule_fails_for_singapore_and_russia_ipv4_and_ipv6(lk):
    flows = seen(request("https://tracking.intl.miui.com/t", SG), request("https://yandex.ru/", RU6),
                 request("https://dns.google/", US))
    result = rules.check_countries(flows, Policy(forbidden=geo.parse_countries("Singapore, Russia")), lk)
    assert {(v.host, v.country) for v in result.violations} == {("tracking.intl.miui.com", "SG"),
                                                                ("yandex.ru", "RU")}
    assert not result.unexamined


def test_country_rule_passes_servers_elsewhere(lk):
    result = rules.check_countries(seen(request("https://dns.google/", US),
                                        request("https://dns.google/", "2001:4860:4860::8888")),
                                   Policy(forbidden=("SG", "RU")), lk)
    assert result.passed


def test_offline_host_map_address_is_judged(lk):
    result = rules.check_countries(seen(offline("https://sa.api.intl.miui.com/sa", "47.241.10.21")),
                                   Policy(forbidden=("SG",)), lk)
    assert [v.country for v in result.violations] == ["SG"]


@pytest.mark.parametrize("ip", [None, "127.0.0.1", "10.1.2.3", "2001:db8::1"],
                         ids=["no-address", "loopback", "private", "documentation-v6"])
def test_an_unknown_country_is_never_a_pass(lk, ip):
    result = rules.check_countries(seen(request("https://somewhere.example.com/", ip)),
                                   Policy(forbidden=("SG",)), lk)
    assert not result.passed
    assert [f.verdict for f in result.findings] == ["unexamined"]


def test_a_named_acceptance_covers_unknown_addresses_and_is_shown(lk):
    pol = policy("defaults:\n  forbidden_countries: [SG]\n  accept_unexamined:\n    - name: offline-pages\n"
                 "      hosts: ['*.example.net']\n      kinds: [no-ip]\n      reason: answered offline\n")
    result = rules.check_countries(seen(request("https://tt-1.example.net/")), pol, lk)
    assert result.passed
    assert [(f.verdict, f.accepted_by) for f in result.findings] == [("accepted", "offline-pages")]
    other = rules.check_countries(seen(request("https://tt-1.example.org/")), pol, lk)
    assert not other.passed, "an acceptance covers only the hosts it names"


# encryption
def test_encryption_fails_plain_http_and_passes_https():
    bad = rules.check_encryption(seen(request("http://tracking.intl.miui.com/t", SG)), Policy(), NO_DATA)
    assert [v.matched for v in bad.violations] == ["plaintext http"]
    assert rules.check_encryption(seen(request("https://tracking.intl.miui.com/t", SG)), Policy(),
                                  NO_DATA).passed


def test_raw_tcp_cannot_be_called_encrypted():
    result = rules.check_encryption(seen(tflow.ttcpflow()), Policy(), NO_DATA)
    assert not result.passed and not result.violations and result.unexamined


# unexamined
def test_unexamined_fails_on_quic_and_refused_tls():
    refused = transport.tls_refusals([{"event": "tls_failed_client", "sni": "pinned.example.org",
                                       "server": f"{SG}:443", "error": "certificate unknown", "window": "w"}])
    result = rules.check_unexamined(seen(tflow.tudpflow(), request("https://ok.example.net/", US),
                                         refused=refused), Policy(), NO_DATA)
    kinds = sorted(f.matched.split(":")[0] for f in result.unexamined)
    assert kinds == ["tls-refused", "udp"]
    assert "pinned.example.org" in result.table()


def test_unexamined_passes_when_everything_was_read_or_accepted():
    pol = policy("defaults:\n  accept_unexamined:\n    - name: pinned-updater\n"
                 "      hosts: [pinned.example.org]\n      kinds: [tls-refused]\n      reason: vendor pins\n")
    refused = transport.tls_refusals([{"event": "tls_failed_client", "sni": "pinned.example.org",
                                       "server": None, "error": "x"}])
    assert rules.check_unexamined(seen(request("https://ok.example.net/", US), refused=refused), pol,
                                  NO_DATA).passed
    assert rules.check_unexamined(seen(request("https://ok.example.net/", US)), Policy(), NO_DATA).passed


def test_destination_findings_for_scan_leave_out_accepted(lk):
    pol = policy("defaults:\n  allow: ['*.example.net']\n  forbidden_countries: [RU]\n"
                 "  accept_unexamined:\n"
                 "    - {name: t, hosts: ['*.example.net'], kinds: [no-ip], reason: test}\n")
    flows = [request("https://tt-1.example.net/"), request("http://yandex.ru/", RU6)]
    found = rules.destination_findings(flows, pol, lookups=lk)
    assert {(f.rule, f.verdict, f.host) for f in found} == {
        ("allowlist", "violation", "yandex.ru"), ("countries", "violation", "yandex.ru"),
        ("encryption", "violation", "yandex.ru")}
    assert all(isinstance(f, rules.RuleFinding) for f in found)


def test_sizes_come_from_the_wire_not_from_decoding():
    f = request("https://a.example.net/", US, body=b"\x1f\x8b" + b"x" * 100)
    f.request.headers["content-encoding"] = "gzip"  # not valid gzip: .content would raise
    (c,) = cs(f)
    assert c.bytes_sent > 102


# data budget of an idle device
def test_a_heartbeat_over_its_budget_fails_and_a_single_startup_request_does_not():
    pol = policy("defaults:\n  budget: {per_host: 20000, hosts: {'updates.example.org': 500}}\n")
    beats = [request("https://sa.api.example.com/beat", body=b"x" * 300) for _ in range(10)]
    once = [request("https://accounts.example.com/ListAccounts", body=b"x" * 400)]
    result = rules.check_budget(seen(*beats, *once, seconds=5), pol, NO_DATA)
    (row,) = result.violations
    assert row.host == "sa.api.example.com" and "at the soak's rate" in row.matched and row.count == 10
    # the same single request over a host's own, smaller budget: its bytes alone exceed the hour's
    single = seen(request("https://updates.example.org/u", body=b"x" * 600), seconds=5)
    small = rules.check_budget(single, pol, NO_DATA)
    (row,) = small.violations
    assert row.host == "updates.example.org" and "bytes in the soak" in row.matched
    assert "budget updates.example.org" in row.matched


def test_budget_settings_merge_from_defaults_to_the_device():
    pf = parse("defaults:\n  budget: {per_host: 1000, hosts: {'*.x.example': 5}}\n"
               "devices:\n  d: {budget: {hosts: {a.y.example: 7}}}\n")
    p = resolve(pf, device="d")
    assert p.budget_of("b.x.example") == (5, "budget *.x.example")
    assert p.budget_of("a.y.example") == (7, "budget a.y.example")
    assert p.budget_of("z.example") == (1000, "budget per_host")
    assert resolve(pf).budget_of("a.y.example") == (1000, "budget per_host")


def test_raw_flows_are_placed_alike_by_the_detector_and_the_rules():
    """Live: the peer the proxy connected to; offline: the sink kept the original address."""
    from telltale.capture.store import ORIGINAL_KEY, SERVER_IP_KEY
    from telltale.detect.sources import sent_of_flow

    live = tflow.ttcpflow()
    live.server_conn.address, live.server_conn.peername, live.server_conn.sni = (
        ("mqtt.example.org", 8883), (RU, 8883), None)
    offline_sink = tflow.ttcpflow()
    offline_sink.server_conn.address, offline_sink.server_conn.peername = ("127.0.0.1", 40000), (
        "127.0.0.1", 40000)
    offline_sink.server_conn.sni = None
    offline_sink.metadata.update({ORIGINAL_KEY: f"{SG}:5222", SERVER_IP_KEY: SG})
    for f, host, ip, port in ((live, "mqtt.example.org", RU, 8883), (offline_sink, SG, SG, 5222)):
        (c,) = cs(f)
        sent = sent_of_flow(f)
        assert (c.host, c.ip, c.port) == (host, ip, port)
        assert (sent.host, sent.server_ip) == (host, ip)
