"""A user's tracker list is read in the formats lists are shared in, or refused with its line.

Read as nothing, a list in another format would let every host it names pass unflagged.
"""

from __future__ import annotations

import argparse
import json

import pytest
from mitmproxy import io

from telltale.destinations import cli, trackers
from telltale.errors import ConfigError

from .helpers import request

FORMATS = {
    "plain": "# my trackers\ntracker.example\n\ntracking.*.vendor.example\nMetrics.Example.  # telemetry\n",
    "hosts-file": ("# hosts\n127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n0.0.0.0 0.0.0.0\n"
                   "0.0.0.0 tracker.example  # telemetry\n127.0.0.1 a.example b.example\n"),
    "adblock": ("[Adblock Plus 2.0]\n! Title: mine\n||tracker.example^\n"
                "||third.example^$third-party,important\n||tracking.*.vendor.example^\n||spared.example^\n@@||spared.example^\n"
                "||dropped.example^\n||dropped.example^$badfilter\n||ad_server.example^|\n"),
}
LISTED = {"plain": ["tracker.example", "x.tracking.eu.vendor.example", "metrics.example"],
          "hosts-file": ["tracker.example", "a.example", "b.example"],
          "adblock": ["tracker.example", "third.example", "x.tracking.eu.vendor.example",
                      "ad_server.example"]}
NOT_LISTED = ["example.net", "localhost", "ip6-localhost", "spared.example", "dropped.example",
              "tracker.example.org", "tracking.vendor.example"]


def _db(tmp_path, text: str, name: str = "mine.txt") -> trackers.TrackerDB:
    f = tmp_path / name
    f.write_text(text)
    return trackers.load(lists=(), files=[f])


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_loads_its_hosts_and_they_are_matched(tmp_path, fmt):
    db = _db(tmp_path, FORMATS[fmt])
    for host in LISTED[fmt]:
        assert [m.list for m in db.match(host)] == ["mine.txt"], host
    assert db.match("www.tracker.example"), "a listed host's subdomains are the host's"
    for host in NOT_LISTED:  # the clean twin: what no line names is not matched
        assert db.match(host) == (), host


@pytest.mark.parametrize("name, text, line, message", [
    ("mine.yaml", "# mine\nhosts:\n  - tracker.example\n", 2, "this looks like YAML"),
    ("mine.yaml", "- tracker.example\n- other.example\n", 1, "this looks like YAML"),
    ("mine.json", '{"hosts": ["tracker.example"]}\n', 1, "this looks like JSON"),
    ("mine.json", '[\n  "tracker.example"\n]\n', 1, "this looks like JSON"),
    ("mine.txt", "tracker.example\nnot a host\n", 2, "'not a host' is not one host name"),
    ("mine.txt", "tracker.example\nlocalhost\n", 2, "'localhost' is not a host name"),
    ("mine.txt", "0.0.0.0\n", 1, "'0.0.0.0' is an address with no host name"),
    ("mine.txt", "0.0.0.0 tracker.example\n0.0.0.0 *.wild.example\n", 2, "'*.wild.example' in"),
    ("mine.txt", "||tracker.example^\n||ads.example/collect^\n", 2,
     "'||ads.example/collect^' is not a whole-host AdBlock rule (||host^): it names part of a site"),
    ("mine.txt", "||tracker.example^$domain=news.example\n", 1,
     "'||tracker.example^$domain=news.example' is limited to some sites or requests ($domain=news.example)"),
    ("mine.txt", "tracker.example\nexample.org##.banner\n", 2, "'example.org##.banner' is not a host name"),
])
def test_anything_else_is_refused_with_file_and_line(tmp_path, name, text, line, message):
    with pytest.raises(ConfigError) as e:
        _db(tmp_path, text, name)
    assert str(e.value).startswith(f"{tmp_path / name}:{line}: {message}"), str(e.value)


@pytest.mark.parametrize("text", ["", "# only comments\n! and these\n", "@@||spared.example^\n"])
def test_a_list_of_no_host_is_an_error(tmp_path, text):
    with pytest.raises(ConfigError, match=r"mine.txt: no tracker host in this list, so it would flag"):
        _db(tmp_path, text)


def test_a_policys_hosts_file_list_flags_its_host_end_to_end(tmp_path, capsys):
    """policy.yaml names a hosts-file list; `telltale destinations` flags its host, not another."""
    (tmp_path / "hosts.txt").write_text("127.0.0.1 localhost\n0.0.0.0 telemetry.vendor.example\n")
    pol = tmp_path / "policy.yaml"
    pol.write_text("defaults:\n  trackers: {lists: [], files: [hosts.txt]}\n")
    cap = tmp_path / "phone-1.mitm"
    with open(cap, "wb") as fo:
        w = io.FlowWriter(fo)
        for url in ("https://telemetry.vendor.example/e", "https://www.vendor.example/"):
            w.add(request(url, "93.184.216.34"))
    parser = argparse.ArgumentParser(prog="telltale")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["destinations", str(cap), "--policy", str(pol), "--format", "json"])
    assert args.func(args) == 0
    rows = {r["host"]: r for r in json.loads(capsys.readouterr().out)["destinations"]}
    assert "hosts.txt" in rows["telemetry.vendor.example"]["tracker"]
    assert rows["www.vendor.example"]["tracker"] is None
