"""Device platforms: the one registry every list of platforms is read from.

The devices.yaml schema (`platform:`), the platform gate that skips @android and @ios
scenarios elsewhere, lint's known tags and the report's tag help all walk PLATFORMS; the
`browser` fixture starts a device's driver through it. A new platform is one module here
and one line below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from telltale.errors import SetupError
from telltale.platforms import android, chromium, ios
from telltale.platforms.driver import Driver, Platform

if TYPE_CHECKING:
    from telltale.capture.proxy import CaptureProxy
    from telltale.inventory import Device

__all__ = ["PLATFORMS", "Driver", "Platform", "open_driver"]

PLATFORMS: dict[str, Platform] = {p.name: p for p in (chromium.PLATFORM, android.PLATFORM, ios.PLATFORM)}


def open_driver(device: Device, appium_url: str, capture: CaptureProxy,
                on_start: Callable[[str], None] | None = None) -> Driver:
    """The device's driver, its session not started yet; SetupError for a platform without one."""
    platform = PLATFORMS[device.platform]
    if platform.open_driver is None:
        built = ", ".join(name for name, p in PLATFORMS.items() if p.open_driver)
        raise SetupError(f"device {device.name}: platform {device.platform} has no browser driver "
                         f"in this version (only {built})")
    return platform.open_driver(device, appium_url, capture, on_start)
