"""devices.yaml for a farm: `grid:` and `hosts:`, and each device's `host:`, with errors that name
the file, the line and the field; and the secrets read from the environment only."""

from __future__ import annotations

import pytest

from telltale import inventory
from telltale.errors import ConfigError, SetupError
from telltale.farm import grid, token

FARM = """grid: http://10.0.5.2:4444
hosts:
  lab1:
    url: http://10.0.5.21:7700
devices:
  pixel-1:
    platform: android
    host: lab1
    capture: wireguard
  board-1:
    platform: chromium
    host: lab1
"""


def test_a_farm_is_read_with_the_hubs_usual_ports():
    inv = inventory.parse(FARM)
    assert str(inv.grid.url) == "http://10.0.5.2:4444/"
    assert (inv.grid.publish, inv.grid.subscribe) == (4442, 4443)
    assert inv.host_of(inv.devices["pixel-1"]).address == ("10.0.5.21", 7700)
    assert inv.hosts["lab1"].token_env == "TELLTALE_HOST_TOKEN"
    # an embedded device on a host is sealed there; a phone keeps what devices.yaml says
    assert inv.devices["board-1"].boundary == "sealed" and inv.devices["pixel-1"].boundary == "wireguard"
    hub = grid.HubAddress.of(str(inv.grid.url), inv.grid.publish, inv.grid.subscribe)
    assert (hub.publish, hub.subscribe) == ("tcp://10.0.5.2:4442", "tcp://10.0.5.2:4443")


URL = "url: http://10.0.5.21:7700"


@pytest.mark.parametrize("change, where", [
    (("host: lab1\n    capture", "host: lab2\n    capture"),
     "devices.yaml:8: devices.pixel-1.host: no host named 'lab2'"),
    (("grid: http://10.0.5.2:4444\n", ""),
     "devices.yaml:7: devices.pixel-1.host: a device on a lab host needs"),
    ((URL, "url: not-a-url"), "devices.yaml:4: hosts.lab1.url"),
    ((URL, URL + "\n    tokenenv: X"), "devices.yaml:5: hosts.lab1.tokenenv"),
    (("  lab1:\n", "  ../lab1:\n"), "devices.yaml:2: hosts: '../lab1' is not a usable name"),
])
def test_a_bad_farm_is_refused_with_its_place(change, where):
    with pytest.raises(ConfigError) as e:
        inventory.parse(FARM.replace(*change))
    assert str(e.value).startswith(where), str(e.value)


def test_lab_firmware_processes_are_refused_on_a_host():
    text = FARM + "    firmware_processes: [{name: agent, command: ['true']}]\n"
    with pytest.raises(ConfigError, match="devices.yaml:10: devices.board-1: .*cannot have them"):
        inventory.parse(text)


def test_secrets_come_from_the_environment_only(monkeypatch):
    monkeypatch.delenv("LAB_TOKEN", raising=False)
    with pytest.raises(SetupError, match="LAB_TOKEN is not set"):
        token.from_env("LAB_TOKEN", "host lab1")
    monkeypatch.setenv("LAB_TOKEN", "short")
    with pytest.raises(SetupError, match="at least 16"):
        token.from_env("LAB_TOKEN", "host lab1")
    monkeypatch.setenv("LAB_TOKEN", "x" * 20)
    assert token.from_env("LAB_TOKEN", "host lab1") == "x" * 20
    assert token.matches("Bearer " + "x" * 20, "x" * 20)
    assert not token.matches("x" * 20, "x" * 20) and not token.matches(None, "x" * 20)


def test_the_relay_node_config_names_the_device_and_keeps_the_secret_private(tmp_path):
    hub = grid.HubAddress.of("http://10.0.5.2:4444")
    node = grid.RelayNode(tmp_path / "s.jar", tmp_path, grid.Slot("pixel-1", {"platformName": "Android"}),
                          "http://10.0.5.21:4723", hub, "s" * 32, host="10.0.5.21", port=5555)
    text = node.toml()
    assert 'url = "http://10.0.5.21:4723"' in text and 'grid-url = "http://10.0.5.2:4444"' in text
    assert '\\"telltale:device\\": \\"pixel-1\\"' in text and "max-sessions = 1" in text


def test_a_host_is_found_by_name_and_its_certificate_beside_devices_yaml(tmp_path):
    inv = inventory.parse(FARM, "lab/devices.yaml")
    assert inv.host("lab1").address == ("10.0.5.21", 7700)
    with pytest.raises(ConfigError, match=r"^lab/devices.yaml: no host named 'lab9' \(known: lab1\)$"):
        inv.host("lab9", "lab/devices.yaml")
    https = inventory.parse(FARM.replace("http://10.0.5.21:7700", "https://10.0.5.21:7700\n    tls_cert: "
                                         "certs/lab1.pem")).host("lab1")
    assert https.certificate(tmp_path) == tmp_path / "certs" / "lab1.pem"
    absolute = https.model_copy(update={"tls_cert": tmp_path / "elsewhere.pem"})
    assert absolute.certificate(tmp_path / "lab") == tmp_path / "elsewhere.pem"
    assert inv.host("lab1").certificate(tmp_path) is None
