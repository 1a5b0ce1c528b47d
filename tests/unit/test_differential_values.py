"""The second value sets of a differential run, and how the lab gives its firmware other identifiers."""

import json
import re

from telltale import canaries, firmware
from telltale.inventory import Device


def test_a_twin_canary_set_has_every_value_as_long_as_the_first_and_none_equal():
    a = canaries.fresh()
    for _ in range(20):
        b = canaries.twin(a)
        for name, value in a.named().items():
            assert len(b.named()[name]) == len(value), name
            assert b.named()[name] != value, name


def test_twin_identifiers_keep_the_shape_and_change_the_value():
    ids = {"imei": "867530900000001", "serial": "TTLEAKY0000000001",
           "advertising_id": "0b7c5a3e-9d2f-4e81-a6c4-aabbccddeeff"}
    twin = canaries.twin_identifiers(ids)
    assert twin.keys() == ids.keys()
    for k, v in ids.items():
        assert len(twin[k]) == len(v) and twin[k] != v
    assert twin["imei"].isdigit()
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.fullmatch(uuid, twin["advertising_id"])


def test_lab_identifiers_are_varied_for_a_block_then_restored_even_after_an_error(tmp_path):
    ids = {"imei": "867530900000001"}
    lab = firmware.LabIdentifiers(tmp_path / "d-identifiers.json", ids)
    assert json.loads(lab.path.read_text()) == ids
    try:
        with lab.varied({"imei": "111111111111111"}):
            assert json.loads(lab.path.read_text()) == {"imei": "111111111111111"}
            raise RuntimeError("an action failed")
    except RuntimeError:
        pass
    assert json.loads(lab.path.read_text()) == ids


def test_the_firmware_contract_names_the_identifiers_file_only_when_the_lab_keeps_one(tmp_path):
    dev = Device(name="d", platform="chromium", appium="local", identifiers={"imei": "867530900000001"})
    env = firmware.contract(dev, None, tmp_path / "ca.pem", None)
    assert "TELLTALE_IDENTIFIERS_FILE" not in env
    env = firmware.contract(dev, None, tmp_path / "ca.pem", None, tmp_path / "ids.json")
    assert env["TELLTALE_IDENTIFIERS_FILE"] == str(tmp_path / "ids.json")
