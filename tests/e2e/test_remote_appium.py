"""A device whose devices.yaml entry names an existing Appium server is driven there."""

from pathlib import Path

import pytest

from telltale.appium_server import AppiumServer
from telltale.results import environment

from .helpers import ROOT, results, run_suite

pytestmark = pytest.mark.e2e


def test_existing_appium_endpoint_is_used_not_a_new_server(ready, tmp_path):
    server = AppiumServer(ready, "farm-host", tmp_path / "farm")
    server.start()
    try:
        inv = tmp_path / "devices.yaml"
        inv.write_text(
            "devices:\n"
            "  farm-chromium:\n"
            "    platform: chromium\n"
            f"    appium: {server.url}\n"
            "    firmware: farm-build-1\n")
        run = tmp_path / "run"
        proc = run_suite(ROOT / "steps" / "test_requirements.py", run, "-k", "URLs",
                         "--device", "farm-chromium", f"--devices-file={inv}")
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert results(run)["Incognito browsing sends no URLs"].status == "passed"
    assert not list(ready.state.glob("logs/run-*/farm-chromium-appium.log")), \
        "no local Appium server was started"
    assert "POST /session" in Path(server.log).read_text()
    props = environment(run / "allure-results")
    assert props["device"] == "farm-chromium" and props["firmware"] == "farm-build-1", props
