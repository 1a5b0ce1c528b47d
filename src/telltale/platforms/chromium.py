"""The embedded browser: Debian's Chromium on this machine behind Appium's chromium driver
(telltale.browser.Browser)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from telltale.platforms.driver import Platform

if TYPE_CHECKING:
    from telltale.browser import Browser
    from telltale.capture.proxy import CaptureProxy
    from telltale.inventory import Device


def _open(device: Device, appium_url: str, capture: CaptureProxy,
          on_start: Callable[[str], None] | None) -> Browser:
    from telltale.browser import Browser

    # A browser of this machine enters the capture by loopback (it cannot answer the proxy's
    # credentials challenge); sealed in its namespace it needs no proxy flag at all.
    proxy_url = capture.local_url if device.boundary == "proxy" else None
    return Browser(device, appium_url, proxy_url, on_start=on_start)


PLATFORM = Platform("chromium", title="Chromium", drain=5.0, embedded=True, open_driver=_open,
                    appium_driver="chromium",
                    stereotype=(("platformName", "linux"), ("browserName", "chrome")))
