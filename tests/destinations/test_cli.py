"""`telltale destinations CAPTURE`: one row per host, text or JSON."""

from __future__ import annotations

import argparse
import json

from mitmproxy import io

from telltale.destinations import cli

from .helpers import offline, request


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="telltale")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _capture(path):
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        for f in (offline("https://tracking.intl.miui.com/track/v4/pages", "47.241.10.20"),
                  offline("https://tracking.intl.miui.com/track/v4/pages", "47.241.10.20"),
                  request("https://yandex.ru/", "2a02:6b8::2:242", body=b"x" * 1000),
                  request("https://tt-1.example.net/", None, method="GET")):
            w.add(f)
    (path.parent / "phone-events.jsonl").write_text(json.dumps(
        {"event": "tls_failed_client", "sni": "pinned.example.org", "server": None, "error": "x",
         "window": "w", "time": 0}) + "\n")


def test_json_has_one_row_per_host(tmp_path, capsys):
    cap = tmp_path / "phone-1.mitm"
    _capture(cap)
    assert _run(["destinations", str(cap), "--format", "json"]) == 0
    rows = {r["host"]: r for r in json.loads(capsys.readouterr().out)["destinations"]}
    assert set(rows) == {"tracking.intl.miui.com", "yandex.ru", "tt-1.example.net"}
    t = rows["tracking.intl.miui.com"]
    # A cloud's Singapore range, registered to its US entity: both sources are shown.
    assert (t["domain"], t["ips"], t["country"], t["requests"]) == ("miui.com", ["47.241.10.20"], "SG|US", 2)
    assert [(a["dataset"], a["country"]) for a in t["countries"]] == [
        ("dbip-country-lite", "SG"), ("geo-whois-asn-country", "US")]
    assert "oem-telemetry" in t["tracker"] and t["bytes_sent"] > 0
    assert rows["yandex.ru"]["country"] == "RU" and rows["yandex.ru"]["bytes_sent"] > 1000
    assert rows["tt-1.example.net"]["ips"] == [] and rows["tt-1.example.net"]["country"] is None
    assert rows["tt-1.example.net"]["tracker"] is None


def test_text_names_the_data_and_the_unexamined(tmp_path, capsys):
    cap = tmp_path / "phone-1.mitm"
    _capture(cap)
    assert _run(["destinations", str(cap)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["host", "domain", "IPs", "country"]
    assert "pinned.example.org" in out and "DB-IP" in out and "AdGuard Tracking Protection" in out


def _scan(argv: list[str]) -> int:
    from telltale.detect import cli as detect_cli

    parser = argparse.ArgumentParser(prog="telltale")
    detect_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


POLICY = """\
defaults:
  allow: ["*.example.net"]
  forbidden_countries: [Singapore, Russia]
  accept_unexamined:
    - {name: test-names, hosts: ["*.example.net"], kinds: [no-ip], reason: answered offline}
"""


def test_scan_with_a_policy_reports_destination_findings(tmp_path, capsys):
    cap = tmp_path / "phone-1.mitm"
    _capture(cap)
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    assert _scan(["scan", str(cap), "--policy", str(pol), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    rows = {(f["rule"], f["host"]): f for f in out["destinations"]}
    assert rows[("countries", "tracking.intl.miui.com")]["country"] == "SG"
    assert rows[("countries", "yandex.ru")]["ip"] == "2a02:6b8::2:242"  # IPv6, placed in Russia
    assert rows[("trackers", "tracking.intl.miui.com")]["verdict"] == "violation"
    assert rows[("unexamined", "pinned.example.org")]["verdict"] == "unexamined"
    assert ("allowlist", "tt-1.example.net") not in rows, "the allowed host is no finding"
    assert out["findings"] == [] and out["errors"] == []


def test_scan_with_a_policy_passes_the_clean_twin(tmp_path, capsys):
    cap = tmp_path / "phone-1.mitm"
    with open(cap, "wb") as fo:
        io.FlowWriter(fo).add(request("https://tt-1.example.net/", None, method="GET"))
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    assert _scan(["scan", str(cap), "--policy", str(pol)]) == 0
    assert "destinations (" in capsys.readouterr().out


def test_scan_with_a_bad_policy_names_the_file_and_line(tmp_path):
    from telltale.errors import ConfigError

    cap = tmp_path / "phone-1.mitm"
    _capture(cap)
    pol = tmp_path / "policy.yaml"
    pol.write_text("defaults:\n  forbidden_countries: [Atlantis]\n")
    try:
        _scan(["scan", str(cap), "--policy", str(pol)])
    except ConfigError as e:
        assert f"{pol}:2" in str(e)
    else:
        raise AssertionError("a bad policy must not scan silently")


def test_a_window_har_keeps_the_server_address_and_is_judged_like_the_flows(tmp_path, capsys):
    """The evidence HAR carries the offline host map's address, so a regulator re-running
    `telltale scan --policy` on the HAR alone gets the same country verdict."""
    from telltale import evidence
    from telltale.capture import addon, store

    assert addon.SERVER_IP_KEY == store.SERVER_IP_KEY, "the addon writes what the readers read"
    flows = [offline("https://tracking.intl.miui.com/track/v4/pages", "47.241.10.20"),
             request("https://tt-1.example.net/", None, method="GET")]
    har = tmp_path / "window.har"
    har.write_bytes(evidence.window_har(flows))
    entries = json.loads(har.read_text())["log"]["entries"]
    assert entries[0]["serverIPAddress"] == "47.241.10.20"
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    assert _scan(["scan", str(har), "--policy", str(pol), "--format", "json"]) == 1
    rows = {(f["rule"], f["host"]): f for f in json.loads(capsys.readouterr().out)["destinations"]}
    assert rows[("countries", "tracking.intl.miui.com")]["country"] == "SG"
    assert rows[("countries", "tracking.intl.miui.com")]["ip"] == "47.241.10.20"
