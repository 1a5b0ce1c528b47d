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
    assert (t["domain"], t["ips"], t["country"], t["requests"]) == ("miui.com", ["47.241.10.20"], "SG", 2)
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
