"""Android phones: the maker's own browser through UiAutomator2, driven by its app profile
(telltale.android)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from telltale.platforms.driver import Platform

if TYPE_CHECKING:
    from telltale.android.browser import AndroidBrowser
    from telltale.capture.proxy import CaptureProxy
    from telltale.inventory import Device


def _open(device: Device, appium_url: str, capture: CaptureProxy,
          on_start: Callable[[str], None] | None) -> AndroidBrowser:
    from telltale.android.browser import AndroidBrowser

    # The capture is the phone's own setting (its proxy setting or WireGuard tunnel, set up by
    # the lab): the driver has nothing to tell the browser.
    return AndroidBrowser(device, appium_url, on_start=on_start)


# Phones batch telemetry for minutes: they are watched longer after their last scenario.
PLATFORM = Platform("android", title="Android", drain=180.0, tagged=True, open_driver=_open,
                    appium_driver="uiautomator2", stereotype=(("platformName", "Android"),))
