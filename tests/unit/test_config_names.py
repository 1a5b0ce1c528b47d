"""Names from configuration never become paths outside the run folder: a device name, a group,
an identifier name or a run id that could (a `/`, a `..`) is refused at load, through the real
command line, with the file and line, before anything runs or is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from telltale import names
from telltale.errors import ConfigError, TelltaleError

ROOT = Path(__file__).resolve().parents[2]


def _telltale(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "telltale.cli", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("name", ["../../../../tmp/x", "a/b", "..", ".hidden", "x" * 65, "name with space"])
def test_a_device_name_that_would_be_a_path_is_refused_with_its_line(tmp_path, name):
    devices = tmp_path / "devices.yaml"
    devices.write_text(f'devices:\n  ok:\n    platform: chromium\n  "{name}":\n    platform: chromium\n')
    reports = tmp_path / "reports"
    r = _telltale("run", "--devices-file", str(devices), "--device", name, "--reports", str(reports))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{devices}:4: devices.{name}.name:" in r.stderr and "not a usable name" in r.stderr
    assert "Traceback" not in r.stderr
    assert not reports.exists(), "nothing is written before the configuration is accepted"


@pytest.mark.parametrize("field,value", [("groups", "[../escape]"), ("identifiers", "{'a/b': X1234567}")])
def test_other_configured_names_are_refused_too(tmp_path, field, value):
    devices = tmp_path / "devices.yaml"
    devices.write_text(f"devices:\n  dev:\n    platform: chromium\n    {field}: {value}\n")
    r = _telltale("run", "--devices-file", str(devices), "--device", "dev", "--reports", str(tmp_path / "r"))
    assert r.returncode == 2 and f"{devices}:4: devices.dev.{field}" in r.stderr, r.stderr


def test_a_run_id_that_would_leave_the_reports_folder_is_refused(tmp_path):
    r = _telltale("run", "--run-id", "../outside", "--reports", str(tmp_path / "reports"))
    assert r.returncode == 2 and "--run-id: '../outside' is not a usable name" in r.stderr, r.stderr
    assert not (tmp_path / "outside").exists() and not (tmp_path / "reports").exists()


def test_the_name_rule_itself():
    assert names.check("local-chromium_2.x", "device") == "local-chromium_2.x"
    for bad in ("a/b", "..", "a..b", "-x", "", "\u00e9t\u00e9"):
        with pytest.raises(ConfigError):
            names.check(bad, "device")


def test_a_path_built_from_a_name_cannot_leave_its_folder(tmp_path):
    (tmp_path / "run").mkdir()
    assert names.inside(tmp_path / "run", "dev-1.mitm") == tmp_path / "run" / "dev-1.mitm"
    (tmp_path / "run" / "link").symlink_to(tmp_path)
    with pytest.raises(TelltaleError, match="refusing to write outside"):
        names.inside(tmp_path / "run", "link/escaped")


def _bundle(tmp_path: Path) -> Path:
    from telltale import manifest

    run = tmp_path / "run"
    (run / "captures").mkdir(parents=True)
    (run / "captures" / "dev-1.mitm").write_bytes(b"flows")
    manifest.write_manifest(run, ROOT)
    return run


def test_verify_accepts_nothing_that_leads_out_of_the_run_folder(tmp_path):
    run = _bundle(tmp_path)
    assert _telltale("verify", str(run)).returncode == 0
    (run / "captures" / "extra.mitm").symlink_to("/etc/hostname")
    r = _telltale("verify", str(run))
    assert r.returncode == 1, r.stdout
    assert "outside the run folder: captures/extra.mitm -> /etc/hostname" in r.stdout, r.stdout
    (run / "captures" / "extra.mitm").unlink()
    import json

    m = json.loads((run / "manifest.json").read_text())
    m["files"]["../../outside.txt"] = {"sha256": "0" * 64, "size": 1}
    (run / "manifest.json").write_text(json.dumps(m))
    r = _telltale("verify", str(run))
    assert r.returncode == 1 and "outside the run folder: ../../outside.txt" in r.stdout, r.stdout


def test_verify_of_an_empty_or_malformed_manifest_cannot_judge(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for text in ('{"files": {}}', "[]", '{"files": {"a": 1}}'):
        (run / "manifest.json").write_text(text)
        r = _telltale("verify", str(run))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "manifest" in r.stderr, r.stderr
