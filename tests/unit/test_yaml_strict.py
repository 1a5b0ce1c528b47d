"""YAML that could mean something else than it says is refused with its file and line.

PyYAML reads YAML 1.1: `NO` (Norway) is false, `1:20` is 80, `017` is 15, and of two equal
keys the last silently wins. Each such case is refused; the fix the message gives loads.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from telltale import inventory, yamlconfig
from telltale.android import profiles
from telltale.destinations import policy, trackers
from telltale.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

# (text, line, message, the text fixed as the message says, the value then read)
REFUSED = [
    ("devices:\n  a:\n    firmware: one\n    firmware: two\n", 4,
     "duplicate key 'firmware' (first at line 3)",
     "devices:\n  a:\n    firmware: two\n", {"devices": {"a": {"firmware": "two"}}}),
    ("defaults: {allow: [a.example]}\ndevices: {}\ndefaults: {allow: [b.example]}\n", 3,
     "duplicate key 'defaults' (first at line 1)", "defaults: {allow: [b.example]}\n",
     {"defaults": {"allow": ["b.example"]}}),
    ("hosts: {a: 1, a: 2}\n", 1, "duplicate key 'a' (first at line 1)", "hosts: {a: 2}\n",
     {"hosts": {"a": 2}}),
    ("x:\n  true: 1\n  True: 2\n", 3, "duplicate key 'True' (first at line 2)", "x:\n  true: 2\n",
     {"x": {True: 2}}),
    ("defaults:\n  forbidden_countries:\n    [SG,\n     NO, RU]\n", 4,
     """'NO' is read as a boolean by YAML 1.1; quote it ("NO") or write true/false""",
     """defaults:\n  forbidden_countries: [SG, "NO", RU]\n""",
     {"defaults": {"forbidden_countries": ["SG", "NO", "RU"]}}),
    ("a: yes\n", 1, "'yes' is read as a boolean by YAML 1.1", "a: true\n", {"a": True}),
    ("a: Off\n", 1, "'Off' is read as a boolean by YAML 1.1", "a: false\n", {"a": False}),
    ("on: push\n", 1, "'on' is read as a boolean by YAML 1.1", "'on': push\n", {"on": "push"}),
    ("a: [x, y, n]\n", 1, "'y' is read as a boolean by YAML 1.1", "a: [x, 'y', 'n']\n",
     {"a": ["x", "y", "n"]}),
    ("a:\n  settle: 1:20\n", 2, """'1:20' is read as the base-60 number 80 by YAML 1.1; quote it ("1:20")""",
     "a:\n  settle: '1:20'\n", {"a": {"settle": "1:20"}}),
    ("serial: 017\n", 1,
     "'017' is read as the number 15 by YAML 1.1 and as the number 17 by YAML 1.2; quote it (\"017\")",
     "serial: '017'\n", {"serial": "017"}),
    ("mode: 0o17\n", 1, "'0o17' is read as text by YAML 1.1 and as the number 15 by YAML 1.2",
     "mode: 15\n", {"mode": 15}),
    ("per_host: 100_000\n", 1, "'100_000' is read as the number 100000 by YAML 1.1 and as text by YAML 1.2",
     "per_host: 100000\n", {"per_host": 100000}),
    ("per_host: 1e5\n", 1, "'1e5' is read as text by YAML 1.1 and as the number 100000.0 by YAML 1.2",
     "per_host: 100000\n", {"per_host": 100000}),
    ("drain: .inf\n", 1, "'.inf' is read as infinity; write a number", "drain: 180\n", {"drain": 180}),
    ("mmdb: ~\n", 1, """'~' is read as null; write null, or quote it ("~")""", "mmdb: null\n",
     {"mmdb": None}),
    ("firmware: 2024-05-01\n", 1, """'2024-05-01' is read as a date by YAML 1.1; quote it ("2024-05-01")""",
     "firmware: '2024-05-01'\n", {"firmware": "2024-05-01"}),
    ("base: &b {allow: [a.example]}\nphone:\n  <<: *b\n", 3, "the merge key '<<' is refused",
     "base: &b {allow: [a.example]}\nphone: *b\n", {"base": {"allow": ["a.example"]},
                                                    "phone": {"allow": ["a.example"]}}),
    ("a: !!python/object/apply:os.system [echo hi]\n", 1,
     "the tag '!!python/object/apply:os.system' is refused", "a: [echo hi]\n", {"a": ["echo hi"]}),
    ("a:\n  b: !secret x\n", 2, "the tag '!secret' is refused", "a:\n  b: x\n", {"a": {"b": "x"}}),
]


@pytest.mark.parametrize("text, line, message, fixed, value", REFUSED, ids=[r[2][:40] for r in REFUSED])
def test_ambiguous_yaml_is_refused_with_its_line_and_the_fix_loads(text, line, message, fixed, value):
    with pytest.raises(ConfigError) as e:
        yamlconfig.compose(text, "conf.yaml")
    assert str(e.value).startswith(f"conf.yaml:{line}: {message}"), str(e.value)
    assert "\n" not in str(e.value)
    assert yamlconfig.compose(fixed, "conf.yaml")[0] == value


def test_values_that_mean_one_thing_load_as_written_and_one_that_does_not_is_refused():
    text = ("a: [true, false, True, FALSE, null, 0, -3, +4, 0x1F, 1.5, 0.25, 1.0e+3, 1.2.3,\n"
            "    10.0.0.1, '::1', 2001:db8::1, 08:30, '017', !!str 0123, \"NO\"]\nb:\nc: &x [1]\nd: *x\n")
    data, _ = yamlconfig.compose(text, "conf.yaml")
    assert data == {"a": [True, False, True, False, None, 0, -3, 4, 31, 1.5, 0.25, 1000.0, "1.2.3",
                          "10.0.0.1", "::1", "2001:db8::1", "08:30", "017", "0123", "NO"],
                    "b": None, "c": [1], "d": [1]}
    with pytest.raises(ConfigError, match=r"^conf.yaml:7: 'NO' is read as a boolean"):
        yamlconfig.compose(text + "e: [SE,\n  NO]\n", "conf.yaml")


def test_policy_and_inventory_files_name_their_path_and_line(tmp_path):
    pol = tmp_path / "policy.yaml"
    pol.write_text("defaults:\n  allow: [a.example]\n  forbidden_countries: [NO, RU]\n")
    with pytest.raises(ConfigError, match=rf"^{pol}:3: 'NO' is read as a boolean by YAML 1.1"):
        policy.load(pol)
    inv = tmp_path / "devices.yaml"
    inv.write_text("devices:\n  a:\n    platform: chromium\n  b:\n    platform: android\n"
                   "  a:\n    platform: ios\n")
    with pytest.raises(ConfigError, match=rf"^{inv}:6: duplicate key 'a' \(first at line 2\)$"):
        inventory.load(inv)


def test_app_profiles_are_read_strictly(tmp_path):
    f = tmp_path / "profiles.yaml"
    f.write_text((ROOT / "src/telltale/android/profiles.yaml").read_text() + "system_browser: []\n")
    with pytest.raises(ConfigError, match=rf"^{f}:\d+: duplicate key 'system_browser' \(first at line 5\)$"):
        profiles.load(f)


@pytest.mark.parametrize("path, load", [
    ("devices.yaml", inventory.load), ("policy.yaml", policy.load),
    ("tests/destinations/suites/devices.yaml", inventory.load),
    ("tests/destinations/suites/policy.yaml", policy.load),
    ("src/telltale/android/profiles.yaml", profiles.load),
    ("src/telltale/destinations/data/oem_telemetry.yaml", lambda p: trackers.oem()),
])
def test_the_projects_own_files_load_and_are_read_strictly(tmp_path, path, load):
    """They load as they are; the same text with its first key written twice does not."""
    assert load(ROOT / path)
    text = (ROOT / path).read_text()
    first = next(ln for ln in text.splitlines() if ln and not ln.startswith("#"))
    with pytest.raises(ConfigError, match=r"duplicate key"):
        yamlconfig.compose(text + first + "\n", path)


def test_the_command_line_refuses_a_devices_file_with_a_duplicate_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices:\n  phone:\n    platform: chromium\n    settle: 1\n    settle: 30\n")
    # --device names none of its devices: had the file loaded, the run would stop there
    proc = subprocess.run([sys.executable, "-m", "telltale.cli", "run", "--devices-file", str(bad),
                           "--device", "tablet", "--reports", str(tmp_path / "reports")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == f"telltale: error: {bad}:5: duplicate key 'settle' (first at line 4)\n"
    assert not (tmp_path / "reports").exists(), "nothing starts before the inventory is read"
