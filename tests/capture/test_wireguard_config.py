"""WireGuard capture set-up: mitmproxy's own key file and client config, and `telltale wireguard`."""

from __future__ import annotations

import json
import os
import stat
from types import SimpleNamespace

import pytest
from mitmproxy.addons import proxyserver
from mitmproxy.proxy import mode_servers, mode_specs
from mitmproxy.test import taddons

from telltale import cli, wgcli
from telltale.capture import wireguard
from telltale.errors import ConfigError

DEVICES = """\
devices:
  pixel-lab:
    platform: android
    appium: http://127.0.0.1:4723
    capture: wireguard
  desk:
    platform: chromium
"""


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_keys_are_made_once_in_mitmproxys_format_and_private(tmp_path):
    path = tmp_path / "state" / "wireguard" / "dev.json"
    keys = wireguard.ensure_keys(path)
    assert path.read_text() == json.dumps({"server_key": keys.server_key, "client_key": keys.client_key},
                                          indent=4), "byte for byte what mitmproxy writes"
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert wireguard.ensure_keys(path) == keys, "a second call reads, never re-keys"
    assert keys.server_key != keys.client_key and keys.server_public != keys.client_public
    assert [p.name for p in path.parent.iterdir()] == ["dev.json"], "no temporary file left"


def test_a_key_file_mitmproxy_made_is_read_and_made_private(tmp_path):
    path = tmp_path / "wg.json"
    path.write_text(json.dumps({"server_key": "RW8zek2TIomtk2+eUfC+uTURIUB1HYCnjzzddastx84=",
                                "client_key": "ZFi1Fa3EkfG9MDI9wezozxB/kjKe0VwHzFqzVK0EqfU="}))
    path.chmod(0o644)
    keys = wireguard.ensure_keys(path)
    assert keys.server_public == "QlU1u4Q+kHq2ERTCIRm5j/4kQrNl6A/hBHqxFLfWggU="  # mitmdump printed it
    assert _mode(path) == 0o600


@pytest.mark.parametrize("text", ["", "[]", '{"server_key": "x"}',
                                  '{"server_key": "abc", "client_key": "abc"}'])
def test_a_broken_key_file_is_named(tmp_path, text):
    path = tmp_path / "wg.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"wg.json: not a mitmproxy WireGuard key file"):
        wireguard.ensure_keys(path)


def test_client_config_is_the_one_mitmproxy_prints_but_routes_ipv6_into_the_tunnel_too(tmp_path):
    keys = wireguard.ensure_keys(tmp_path / "wg.json")
    spec = wireguard.mode_spec(tmp_path / "wg.json", "192.0.2.7", 51999)
    assert spec == f"wireguard:{tmp_path / 'wg.json'}@192.0.2.7:51999"
    mode = mode_specs.ProxyMode.parse(spec)
    assert (mode.type_name, mode.data, mode.custom_listen_host, mode.custom_listen_port) == (
        "wireguard", str(tmp_path / "wg.json"), "192.0.2.7", 51999)
    with taddons.context(proxyserver.Proxyserver()):
        theirs = mode_servers.WireGuardServerInstance.client_conf(SimpleNamespace(
            _servers=[object()], mode=mode, server_key=keys.server_key, client_key=keys.client_key))
    ours = wireguard.client_config(keys, "192.0.2.7:51999", allowed_ips="0.0.0.0/0")
    assert ours == theirs
    default = wireguard.client_config(keys, "192.0.2.7:51999")
    assert "AllowedIPs = 0.0.0.0/0, ::/0" in default.splitlines()
    fields = dict(line.split(" = ", 1) for line in default.splitlines() if " = " in line)
    assert fields == {"PrivateKey": keys.client_key, "Address": "10.0.0.1/32", "DNS": "10.0.0.53",
                      "PublicKey": keys.server_public, "AllowedIPs": "0.0.0.0/0, ::/0",
                      "Endpoint": "192.0.2.7:51999"}


def test_mode_spec_refuses_a_port_that_is_not_one(tmp_path):
    with pytest.raises(ValueError, match="not a UDP port"):
        wireguard.mode_spec(tmp_path / "k.json", "127.0.0.1", 0)


def test_endpoints_and_ipv6():
    assert wireguard.endpoint("2001:db8::1", 51820) == "[2001:db8::1]:51820"
    assert wgcli.parse_endpoint("192.0.2.1", 51820) == ("192.0.2.1", 51820)
    assert wgcli.parse_endpoint("lab.example:4500", 51820) == ("lab.example", 4500)
    assert wgcli.parse_endpoint("[2001:db8::1]:4500", 51820) == ("2001:db8::1", 4500)
    assert wgcli.parse_endpoint("2001:db8::1", 51820) == ("2001:db8::1", 51820)
    for bad in ("host:port", "host:0", ":51820", "[2001:db8::1", "a:b:c"):
        with pytest.raises(ConfigError, match="--endpoint"):
            wgcli.parse_endpoint(bad, 51820)


def test_qr_code_is_blocks_of_one_width():
    code = wireguard.qr("[Interface]\nPrivateKey = x\n").splitlines()
    assert len(code) > 10 and len({len(line) for line in code}) == 1
    assert set("".join(code)) <= {"\u2588", "\u2580", "\u2584", "\xa0"}
    assert wireguard.qr("a") != wireguard.qr("b")


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    (tmp_path / "devices.yaml").write_text(DEVICES)
    (tmp_path / "package.json").write_text("{}")
    monkeypatch.setenv("TELLTALE_ROOT", str(tmp_path))
    return tmp_path


def test_cli_refuses_a_device_whose_boundary_is_not_wireguard(checkout, capsys):
    assert cli.main(["wireguard", "desk", "--endpoint", "192.0.2.7"]) == 2
    err = capsys.readouterr().err
    assert "device desk has capture boundary sealed, not wireguard" in err
    assert "capture: wireguard" in err and len(err.strip().splitlines()) == 1
    assert not (checkout / ".telltale" / "wireguard").exists(), "no keys for a device that is not one"
    assert cli.main(["wireguard", "nosuch"]) == 2
    assert "no device named 'nosuch'" in capsys.readouterr().err


def test_cli_writes_keys_and_config_and_tells_the_phone_what_to_do(checkout, capsys):
    stale = checkout / ".telltale" / "wireguard" / "pixel-lab.conf"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    stale.chmod(0o644)
    assert cli.main(["wireguard", "pixel-lab", "--endpoint", "192.0.2.7:51999"]) == 0
    out = capsys.readouterr().out
    keyfile = checkout / ".telltale" / "wireguard" / "pixel-lab.json"
    conf = checkout / ".telltale" / "wireguard" / "pixel-lab.conf"
    keys = wireguard.ensure_keys(keyfile)
    assert conf.read_text() == wireguard.client_config(keys, "192.0.2.7:51999") + "\n"
    assert _mode(keyfile) == _mode(conf) == 0o600
    assert conf.read_text() in out + "\n" and "\u2588" in out
    assert "must listen on 192.0.2.7:51999" in out and "`telltale run` listens on 0.0.0.0:51820" in out
    assert "Always-on VPN" in out and "Block connections without VPN" in out and "On-Demand" in out

    assert cli.main(["wireguard", "pixel-lab", "--endpoint", "192.0.2.8", "--no-qr"]) == 0
    out = capsys.readouterr().out
    assert "\u2588" not in out and "Endpoint = 192.0.2.8:51820" in out
    assert wireguard.ensure_keys(keyfile) == keys, "the phone keeps its keys; only the endpoint moved"


def test_cli_default_endpoint_is_this_machines_ipv4_on_51820(checkout, capsys, monkeypatch):
    monkeypatch.setattr(wireguard, "local_ipv4", lambda: "198.51.100.4")
    assert cli.main(["wireguard", "pixel-lab", "--no-qr"]) == 0
    assert "Endpoint = 198.51.100.4:51820" in capsys.readouterr().out
    monkeypatch.setattr(wireguard, "local_ipv4", lambda: None)
    assert cli.main(["wireguard", "pixel-lab", "--no-qr"]) == 2
    assert "--endpoint" in capsys.readouterr().err


def test_cli_takes_another_devices_file(checkout, tmp_path_factory, capsys):
    other = tmp_path_factory.mktemp("elsewhere") / "farm.yaml"
    other.write_text(DEVICES.replace("pixel-lab", "pixel-9"))
    assert cli.main(["wireguard", "pixel-9", "--devices-file", str(other), "--endpoint", "192.0.2.7"]) == 0
    assert (checkout / ".telltale" / "wireguard" / "pixel-9.conf").exists()


def test_local_ipv4_is_not_loopback():
    ip = wireguard.local_ipv4()
    assert ip is None or not ip.startswith("127.")
