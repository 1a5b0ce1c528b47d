"""The android platform's driver (telltale.platforms): the phone's own browser as the suite's
`browser`, so the same steps drive it as drive Chromium."""

from __future__ import annotations

from collections.abc import Callable

import urllib3
from appium import webdriver
from appium.options.common import AppiumOptions
from selenium.common.exceptions import WebDriverException

from telltale.android import capabilities, profiles
from telltale.android.apps import SystemBrowser
from telltale.browser import Visit, quit_session, responds, screenshot
from telltale.errors import ActionFailed, SetupError
from telltale.inventory import Device


class AndroidBrowser:
    """One UiAutomator2 session on a phone. Its capture is the phone's own setting (proxy or
    WireGuard tunnel, made by the lab), so the driver is given no proxy."""

    def __init__(self, device: Device, appium_url: str,
                 on_start: Callable[[str], None] | None = None,
                 app_profiles: profiles.Profiles | None = None) -> None:
        package = device.apps.get("system_browser")
        if not package:
            raise SetupError(f"device {device.name}: set apps.system_browser (the browser's package) "
                             "in devices.yaml")
        self.profile = (app_profiles or profiles.load()).find("system_browser", package)
        self.device, self.appium_url, self.on_start = device, appium_url, on_start
        self.driver: webdriver.Remote | None = None
        self.app: SystemBrowser | None = None
        self.incognito: bool | None = None

    def __repr__(self) -> str:
        return f"AndroidBrowser({self.device.name}, {self.profile.name})"

    def ensure(self, incognito: bool) -> None:
        if self.driver is None or not self._responds():
            self.quit()
            opts = AppiumOptions().load_capabilities(capabilities.uiautomator2(self.device))
            try:
                self.driver = webdriver.Remote(self.appium_url, options=opts)
            except WebDriverException as e:
                raise SetupError(f"device {self.device.name}: Appium session failed: {e.msg}") from e
            except (OSError, urllib3.exceptions.HTTPError) as e:
                raise SetupError(f"device {self.device.name}: Appium endpoint {self.appium_url} "
                                 f"cannot be reached: {e}") from e
            self.app = SystemBrowser(self.driver, self.profile)
            if self.on_start is not None:
                caps = self.driver.capabilities or {}
                self.on_start(f"Android {caps.get('platformVersion', '?')} {self.profile.name}")
        if incognito:
            self.app.open_incognito()  # the browser's own toggle, as a user switches it on
        else:
            self.app.start()
        self.incognito = incognito

    def _responds(self) -> bool:
        return responds(lambda: self.driver.current_package)

    def visit(self, url: str) -> Visit:
        return self.app.visit(url)

    def search(self, engine_url: str, term: str, box: str = "q") -> Visit:
        raise ActionFailed("a search through a web page's own box is not driven on Android yet: "
                            "use a requirement that searches from the browser's address bar")

    def open_in_new_tab(self, url: str) -> Visit:
        raise ActionFailed("tabs are not driven on Android yet")

    def switch_to_tab(self, index: int) -> None:
        raise ActionFailed("tabs are not driven on Android yet")

    def screenshot(self) -> bytes | None:
        return screenshot(self.driver)

    def nudges(self) -> list[tuple[str, Callable[[], object]]]:
        """What a user does that makes a phone's apps flush their telemetry (before the drain)."""
        if self.driver is None:
            return []
        d = self.driver
        return [("the app goes to the background", lambda: d.background_app(-1)),
                ("the screen turns off", d.lock)]

    def quit(self) -> None:
        quit_session(self.driver)
        self.driver, self.app, self.incognito = None, None, None
