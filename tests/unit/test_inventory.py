"""devices.yaml: the shipped file is valid; every fault is one line naming file, line and field."""

from pathlib import Path

import pytest

from telltale import inventory
from telltale.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_inventory_has_the_embedded_default():
    inv = inventory.load(ROOT / "devices.yaml")
    dev = inv.get(inventory.DEFAULT_DEVICE)
    assert dev.platform == "chromium" and dev.appium == "local"
    assert dev.proxy.host == "127.0.0.1" and dev.proxy.upstream == "offline"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("devices:\n  a:\n    platform: chromium\n    proxy:\n      port: 99999\n",
         "devices.yaml:5: devices.a.proxy.port: Input should be less than or equal to 65535"),
        ("devices:\n  a:\n    platfrom: chromium\n",
         "devices.yaml:3: devices.a.platfrom: Extra inputs are not permitted"),
        ("devices:\n  a:\n    platform: chromium\n  b:\n    platform: windows-phone\n",
         "devices.yaml:5: devices.b.platform: Input should be 'chromium', 'android' or 'ios'"),
        ("devices:\n  a:\n    platform: chromium\n    appium: not a url\n",
         "devices.yaml:4: devices.a.appium"),
        ("devices: [1\n", "devices.yaml:2: not valid YAML"),
        ("farm:\n  a: {}\n", "devices.yaml:1: devices: a top-level 'devices:' mapping is required"),
    ],
)
def test_malformed_inventory_gives_one_line_with_file_line_field(tmp_path, text, expected):
    f = tmp_path / "devices.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        inventory.load(f)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(str(tmp_path) + "/")
    assert expected in msg


def test_unknown_device_is_named_with_the_known_ones(tmp_path):
    f = tmp_path / "devices.yaml"
    f.write_text("devices:\n  phone-a:\n    platform: android\n    appium: http://127.0.0.1:4723\n")
    inv = inventory.load(f)
    with pytest.raises(ConfigError, match="no device named 'phone-b' .known: phone-a."):
        inv.get("phone-b", str(f))


def test_unreadable_inventory_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="devices.yaml: cannot read"):
        inventory.load(tmp_path / "devices.yaml")


def test_selection_by_name_group_or_all(tmp_path):
    f = tmp_path / "devices.yaml"
    f.write_text("devices:\n  a:\n    platform: chromium\n    groups: [lab1]\n"
                 "  b:\n    platform: chromium\n    groups: [lab1, night]\n"
                 "  local-chromium:\n    platform: chromium\n")
    inv = inventory.load(f)
    names = lambda devs: [d.name for d in devs]  # noqa: E731
    assert names(inventory.select(inv, None, None)) == ["local-chromium"]
    assert names(inventory.select(inv, ["b"], None)) == ["b"]
    assert names(inventory.select(inv, None, "lab1")) == ["a", "b"]
    assert names(inventory.select(inv, ["b"], "all")) == ["b", "a", "local-chromium"]
    with pytest.raises(ConfigError, match="no device in group 'lab2' .groups: lab1, night."):
        inventory.select(inv, None, "lab2")
