"""A phone's own apps, driven through UiAutomator2 by their profile's selectors."""

from __future__ import annotations

from urllib.parse import urlsplit

from appium import webdriver
from selenium.common.exceptions import WebDriverException

from telltale.android.profiles import AppProfile
from telltale.browser import Visit
from telltale.errors import ActionFailed

KEYCODE_ENTER = 66


class AndroidApp:
    def __init__(self, driver: webdriver.Remote, profile: AppProfile) -> None:
        self.driver, self.profile = driver, profile

    def start(self) -> None:
        self.driver.execute_script("mobile: activateApp", {"appId": self.profile.package})

    def element(self, name: str):
        sel = self.profile.selector(name)
        try:
            return self.driver.find_element(sel.strategy, sel.value)
        except WebDriverException as e:
            raise ActionFailed(f"{self.profile.name}: {name} not found ({sel.strategy} "
                                f"{sel.value!r}): {e.msg}") from e

    def tap(self, name: str) -> None:
        self.element(name).click()

    def type(self, name: str, text: str) -> None:
        field = self.element(name)
        field.clear()
        field.send_keys(text)


class SystemBrowser(AndroidApp):
    """The phone maker's browser: incognito by its own toggle, as a user would switch it on."""

    def open_incognito(self) -> None:
        self.start()
        self.tap("menu")
        self.tap("new_incognito_tab")

    def visit(self, url: str) -> Visit:
        self.tap("url_bar")
        self.type("url_bar", url)
        self.driver.press_keycode(KEYCODE_ENTER)
        parts = urlsplit(url)
        return Visit(url, parts.hostname or "", parts.path or "/", parts.query)
