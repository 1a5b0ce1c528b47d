"""The capture boundary in devices.yaml: defaults, what cannot be sealed, and a run that cannot
seal stops at once (never a silent fall-back to the proxy setting)."""

import os

import pytest

from telltale import cli, inventory
from telltale.capture import boundary
from telltale.errors import ConfigError


def _dev(extra: str) -> inventory.Device:
    return inventory.parse(f"devices:\n  a:\n{extra}").get("a")


def test_local_embedded_devices_are_sealed_and_phones_say_their_weaker_boundary():
    assert _dev("    platform: chromium\n").boundary == "sealed"
    phone = _dev("    platform: android\n")
    assert phone.boundary == "proxy" and "not seen" in phone.boundary_text
    remote = _dev("    platform: chromium\n    appium: http://farm.example:4723\n")
    assert remote.boundary == "proxy"
    assert _dev("    platform: android\n    capture: wireguard\n").boundary == "wireguard"


@pytest.mark.parametrize(("extra", "message"), [
    ("    platform: android\n    capture: sealed\n", "capture: sealed needs an embedded device"),
    ("    platform: chromium\n    appium: http://farm.example:4723\n    capture: sealed\n",
     "capture: sealed needs an embedded device"),
    ("    platform: chromium\n    capture: proxy\n    telemetry_agent: {transport: udp}\n",
     "escapes a proxy setting by design"),
    ("    platform: chromium\n    capture: tunnel\n", "devices.a.capture"),
    ("    platform: chromium\n    firmware_processes:\n      - {name: x, command: [a]}\n"
     "      - {name: x, command: [b]}\n", "duplicate name x"),
    ("    platform: chromium\n    firmware_processes:\n      - {name: x, command: []}\n",
     "firmware_processes"),
])
def test_boundaries_that_cannot_mean_what_they_say_are_refused_with_their_place(extra, message):
    with pytest.raises(ConfigError, match="devices.yaml:") as e:
        _dev(extra)
    assert message in str(e.value)


def test_a_sealed_run_without_root_stops_before_anything_starts(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    inv = tmp_path / "devices.yaml"
    inv.write_text("devices:\n  a:\n    platform: chromium\n")
    code = cli.main(["run", "--devices-file", str(inv), "--device", "a", "--reports", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "a: capture: sealed needs root" in err and "capture: proxy" in err
    assert not (tmp_path / "r").exists(), "nothing was started or written"
    assert boundary.requirements_problem() is not None
