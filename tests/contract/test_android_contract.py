"""CONTRACT TEST (no phone exists here): the WebDriver exchange Telltale has with an Android phone.

The Android code path (UiAutomator2 capabilities, the app profile's selectors,
the system browser's own incognito toggle) runs against a WebDriver double and
must send exactly the recorded exchange in android_system_browser.exchange.json,
which follows Appium's UiAutomator2 protocol. A change in what Telltale sends a
phone fails here first; a lab confirms the exchange on a real device.
"""

import json
from pathlib import Path

import pytest
from appium import webdriver
from appium.options.common import AppiumOptions

from telltale import inventory
from telltale.android import capabilities, profiles
from telltale.android.apps import SystemBrowser
from telltale.errors import ActionFailed

from .fake_webdriver import FakeWebDriver

CONTRACT = Path(__file__).with_name("android_system_browser.exchange.json")
PHONE = ("devices:\n  mi:\n    platform: android\n    appium: http://127.0.0.1:4723\n"
         "    capabilities: {'appium:udid': 'LAB-PHONE-1'}\n")


def _session(fake: FakeWebDriver):
    dev = inventory.parse(PHONE).get("mi")
    opts = AppiumOptions().load_capabilities(capabilities.uiautomator2(dev))
    return webdriver.Remote(fake.url, options=opts)


def test_system_browser_incognito_visit_sends_the_recorded_exchange():
    fake = FakeWebDriver()
    try:
        d = _session(fake)
        b = SystemBrowser(d, profiles.load().find("system_browser", "com.mi.globalbrowser"))
        b.open_incognito()
        visit = b.visit("https://tt-0123456789.example.net/read/abc")
        d.quit()
    finally:
        fake.close()
    assert visit.host == "tt-0123456789.example.net" and visit.path == "/read/abc"
    assert fake.requests == json.loads(CONTRACT.read_text())


def test_a_selector_the_firmware_no_longer_has_is_named_and_breaks_the_scenario():
    fake = FakeWebDriver(missing={"com.mi.globalbrowser:id/action_menu"})
    try:
        d = _session(fake)
        b = SystemBrowser(d, profiles.load().find("system_browser", "com.mi.globalbrowser"))
        with pytest.raises(ActionFailed, match=r"Mi Browser: menu not found \(id 'com.mi.globalbrowser:id/"):
            b.open_incognito()
    finally:
        fake.close()


def test_every_shipped_profile_is_valid_and_has_the_selectors_its_app_class_uses():
    p = profiles.load()
    for prof in p.system_browser:
        assert {"menu", "new_incognito_tab", "url_bar"} <= set(prof.selectors), prof.name
    assert p.file_manager and p.launcher


def test_android_browser_runs_the_suite_steps_through_the_system_browser():
    """The `browser` the steps use, on an Android device (started through the platform registry, as
    the fixture starts it): session, own incognito toggle, visit."""
    from telltale.android.browser import AndroidBrowser
    from telltale.platforms import open_driver

    fake = FakeWebDriver()
    dev = inventory.parse(PHONE.replace("capabilities:", "apps: {system_browser: com.mi.globalbrowser}\n"
                                        "    capabilities:")).get("mi")
    builds = []
    try:
        # The phone's capture is its own setting: the driver is given no proxy, so none is passed.
        b = open_driver(dev, fake.url, capture=None, on_start=builds.append)
        assert isinstance(b, AndroidBrowser)
        b.ensure(incognito=True)
        b.visit("https://tt-0123456789.example.net/read/abc")
        b.quit()
    finally:
        fake.close()
    assert builds == ["Android 14 Mi Browser"]
    sent = [(r["method"], r["path"].replace("/session/s1", ""), (r["body"] or {}).get("value"))
            for r in fake.requests]
    assert sent[0][:2] == ("POST", "/session")
    assert ("POST", "/element", 'new UiSelector().textContains("Incognito")') in sent
    assert ("POST", "/element", "com.mi.globalbrowser:id/url") in sent
    assert sent[-1][:2] == ("DELETE", "")
