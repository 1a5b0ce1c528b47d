"""`telltale scan --policy` and `telltale destinations` on one capture, byte for byte.

The capture (built with helpers.py) gives every rule a scan applies something to find:
a tracker, plain HTTP, raw TCP and UDP, a refused TLS handshake, hosts outside the
allowlist, a first party, servers in forbidden countries (one contested), a server
whose address is unknown, and traffic a named acceptance covers. A change to the rules
that changes what a reader gets shows here. The datasets are pinned by package-lock.json;
after an intended change (or a new data release), write the files again with
TELLTALE_GOLDEN=write and review their diff.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
from mitmproxy import io
from mitmproxy.test import tflow

from telltale.destinations import cli

from .helpers import offline, request

GOLDEN = Path(__file__).with_name("golden")
POLICY = """\
defaults:
  allow: ["*.example.net"]
  first_party: shop.example
  forbidden_countries: [Singapore, Russia]
  accept_unexamined:
    - {name: test-names, hosts: ["*.example.net"], kinds: [no-ip], reason: answered offline}
    - {name: vendor-pin, hosts: [accepted-pin.example.org], kinds: [tls-refused], reason: reviewed}
"""


def _raw(kind: str, host: str, ip: str, port: int):
    f = tflow.ttcpflow() if kind == "tcp" else tflow.tudpflow()
    f.server_conn.address, f.server_conn.peername, f.server_conn.sni = (host, port), (ip, port), None
    return f


def _capture(folder: Path) -> Path:
    cap = folder / "phone-1.mitm"
    with open(cap, "wb") as fo:
        w = io.FlowWriter(fo)
        for f in (offline("https://tracking.intl.miui.com/track/v4/pages", "47.241.10.20"),
                  offline("https://tracking.intl.miui.com/track/v4/pages", "47.241.10.20"),
                  request("http://yandex.ru/search", "2a02:6b8::2:242", body=b"x" * 1000),
                  request("https://contested.example.org/collect", "93.184.216.34"),
                  request("https://region1.google-analytics.com/g/collect", "8.8.8.8"),
                  request("https://api.shop.example/cart", "8.8.4.4"),
                  request("https://tt-1.example.net/", None, method="GET"),
                  request("https://cdn.unmapped-vendor.com/x", None),
                  _raw("tcp", "mqtt.example.org", "77.88.55.60", 8883),
                  _raw("udp", "quic.example.org", "47.241.10.20", 443)):
            w.add(f)
    (folder / "phone-events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in (
        {"event": "tls_failed_client", "sni": "pinned.example.org", "server": "47.241.10.20:443",
         "error": "certificate unknown", "window": "w", "time": 0},
        {"event": "tls_failed_client", "sni": "accepted-pin.example.org", "server": None, "error": "x",
         "window": "w", "time": 0})))
    return cap


def _run(register, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="telltale")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _scan(argv: list[str]) -> int:
    from telltale.detect import cli as detect_cli

    return _run(detect_cli.register, ["scan", *argv])


@pytest.fixture
def capture(tmp_path) -> tuple[Path, Path]:
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    return _capture(tmp_path), pol


def _same(name: str, out: str, folder: Path) -> None:
    out = out.replace(str(folder), "TMP")
    golden = GOLDEN / name
    if os.environ.get("TELLTALE_GOLDEN") == "write":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(out)
    assert golden.is_file(), f"no {golden}: write it with TELLTALE_GOLDEN=write"
    assert out == golden.read_text(), f"{name} differs from {golden}"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_scan_with_a_policy_is_unchanged(capture, capsys, fmt):
    cap, pol = capture
    assert _scan([str(cap), "--policy", str(pol), "--format", fmt]) == 1
    _same(f"scan-policy.{fmt}", capsys.readouterr().out, cap.parent)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_destinations_is_unchanged(capture, capsys, fmt):
    cap, pol = capture
    assert _run(cli.register, ["destinations", str(cap), "--policy", str(pol), "--format", fmt]) == 0
    _same(f"destinations.{fmt}", capsys.readouterr().out, cap.parent)
