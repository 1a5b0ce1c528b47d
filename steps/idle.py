"""Steps of the idle soak: the device left alone, with the capture running."""

from __future__ import annotations

import pytest
from pytest_bdd import when

from fixtures.observation import Progress
from telltale import observe
from telltale.canaries import ScenarioCanaries
from telltale.inventory import Device
from telltale.window import Window


@pytest.fixture
def idle_seconds(pytestconfig: pytest.Config) -> float:
    """The soak's length: `telltale run --idle SECONDS` (pytest --telltale-idle)."""
    return float(pytestconfig.getoption("telltale_idle"))


@when("the device idles for the soak", target_fixture="idled")
def device_idles(browsing_mode: str, capture_window: Window, device: Device, idle_seconds: float,
                 progress: Progress, canaries: ScenarioCanaries) -> float:
    """No action for the soak's length (the browser stays on its start page), counting down."""
    capture_window.act(lambda c: observe.countdown(idle_seconds, f"idle soak of {device.name}", progress),
                       canaries)
    capture_window.idle = idle_seconds
    return idle_seconds
