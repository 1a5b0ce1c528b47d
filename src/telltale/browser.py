"""The chromium platform's driver (telltale.platforms), and what every platform's driver shares:
the Visit an action returns and the session's screenshot and end.

For the embedded default the browser is Debian's Chromium behind Appium's chromium driver
(platformName linux, browserName chrome, the system chromedriver, `goog:chromeOptions`, one
chromedriver port per session). On a sealed device it runs inside the device's namespace with
no proxy flag; on a `proxy` device its proxy setting is the capture.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from appium import webdriver
from appium.options.common import AppiumOptions
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from telltale import procs
from telltale.errors import ActionFailed, SetupError
from telltale.inventory import Device

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Quiet headless Chromium as root; what remains is known baseline noise (update checks about
# every minute, the account list at start, a favicon per host).
QUIET_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--window-size=1280,900",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,"
    "OptimizationHintsFetching,OptimizationGuideModelDownloading",
)


def chromium_capabilities(device: Device, proxy_url: str | None, incognito: bool) -> dict:
    """proxy_url None: no proxy flag at all (a sealed device: its network is the capture)."""
    proxy = [f"--proxy-server={proxy_url}",
             # Loopback too goes through the proxy: nothing the browser sends is unseen.
             "--proxy-bypass-list=<-loopback>"] if proxy_url else []
    args = [*QUIET_ARGS, *proxy, *device.browser_args]
    if incognito:
        args.append("--incognito")
    caps = {
        "platformName": "linux",
        "browserName": "chrome",
        "appium:automationName": "Chromium",
        "appium:executable": CHROMEDRIVER,
        "appium:autodownloadEnabled": False,
        # The driver kills other chromedrivers on its port: one port per session.
        "appium:chromedriverPort": procs.free_port(),
        "appium:newCommandTimeout": 600,
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
    }
    caps.update(device.capabilities)
    return caps


def screenshot(driver) -> bytes | None:
    """A PNG of the screen for the evidence, or None when the session cannot give one."""
    try:
        return driver.get_screenshot_as_png() if driver else None
    except (WebDriverException, OSError, urllib3.exceptions.HTTPError):
        return None


def responds(round_trip: Callable[[], object]) -> bool:
    """Whether a session answers one round trip (a dead session or server gives False)."""
    try:
        round_trip()
        return True
    except (WebDriverException, OSError, urllib3.exceptions.HTTPError):
        return False


def quit_session(driver) -> None:
    """End a WebDriver session; one whose session or server is already gone is ended too."""
    if driver is not None:
        try:
            driver.quit()
        except (WebDriverException, OSError, urllib3.exceptions.HTTPError):
            pass


@dataclass(frozen=True)
class Visit:
    """What one browser action was meant to cause: the positive control of a window."""

    url: str
    host: str
    path: str
    query: str = ""


class Browser:
    """One Appium session on a chromium device, started lazily in the mode a scenario asks for."""

    def __init__(self, device: Device, appium_url: str, proxy_url: str | None,
                 on_start: Callable[[str], None] | None = None) -> None:
        self.device, self.appium_url, self.proxy_url = device, appium_url, proxy_url
        self.driver: webdriver.Remote | None = None
        self.incognito: bool | None = None
        self.on_start = on_start

    def __repr__(self) -> str:
        mode = {None: "not started", True: "incognito", False: "normal"}[self.incognito]
        return f"Browser({self.device.name}, {mode})"

    def ensure(self, incognito: bool) -> None:
        """A live session in the asked mode, fresh or reset; the mode is checked, not assumed."""
        if self.driver is not None and self.incognito == incognito and self._responds():
            self.reset()
            return
        self.quit()
        caps = chromium_capabilities(self.device, self.proxy_url, incognito)
        try:
            self.driver = webdriver.Remote(self.appium_url, options=AppiumOptions().load_capabilities(caps))
        except WebDriverException as e:
            raise SetupError(f"device {self.device.name}: Appium session failed: {e.msg}") from e
        except (OSError, urllib3.exceptions.HTTPError) as e:
            raise SetupError(f"device {self.device.name}: Appium endpoint {self.appium_url} "
                             f"cannot be reached: {e}") from e
        self.incognito = incognito
        if self.on_start is not None:
            self.on_start(self.build())
        actual = self.command_line_has("--incognito")
        if actual != incognito:
            raise SetupError(f"device {self.device.name}: browser asked for incognito={incognito} "
                             f"but runs with incognito={actual}")

    def build(self) -> str:
        """What the device says it runs (from the session's capabilities)."""
        caps = self.driver.capabilities or {}
        parts = [caps.get("browserName"), caps.get("browserVersion") or caps.get("version"),
                 caps.get("platformName"), caps.get("appium:platformVersion")]
        return " ".join(str(p) for p in parts if p)

    def command_line_has(self, flag: str) -> bool:
        """Read the browser's real command line from chrome://version (never goes through the proxy)."""
        self.driver.get("chrome://version")
        text = self.driver.find_element(By.CSS_SELECTOR, "#command_line").text
        self.driver.get("about:blank")
        return flag in text.split()

    def _responds(self) -> bool:
        return responds(lambda: self.driver.current_url)

    def reset(self) -> None:
        """State a scenario left behind: extra tabs, cookies, the open page."""
        d = self.driver
        handles = d.window_handles
        for h in handles[1:]:
            d.switch_to.window(h)
            d.close()
        d.switch_to.window(handles[0])
        d.get("about:blank")
        d.delete_all_cookies()

    def visit(self, url: str) -> Visit:
        parts = urlsplit(url)
        try:
            self.driver.get(url)
        except WebDriverException as e:
            raise ActionFailed(f"browser could not load {url}: {e.msg}") from e
        return Visit(url, parts.hostname or "", parts.path or "/", parts.query)

    def search(self, engine_url: str, term: str, box: str = "q") -> Visit:
        """Open a search page, type `term` into its box and submit, as a person would."""
        self.visit(engine_url)
        try:
            field = self.driver.find_element(By.CSS_SELECTOR, f"[name=\"{box}\"]")
            field.clear()
            field.send_keys(term)
            field.send_keys(Keys.ENTER)
            deadline = time.monotonic() + 15
            while self.driver.current_url.rstrip("/") == engine_url.rstrip("/"):
                if time.monotonic() > deadline:
                    raise ActionFailed(f"search on {engine_url} did not navigate")
                time.sleep(0.05)
            self.driver.execute_script("return document.readyState")
        except WebDriverException as e:
            raise ActionFailed(f"search on {engine_url} failed: {e.msg}") from e
        parts = urlsplit(self.driver.current_url)
        return Visit(self.driver.current_url, parts.hostname or "", parts.path, parts.query)

    def open_in_new_tab(self, url: str) -> Visit:
        """Open `url` in a new tab, which becomes the current one."""
        try:
            self.driver.switch_to.new_window("tab")
        except WebDriverException as e:
            raise ActionFailed(f"could not open a new tab: {e.msg}") from e
        return self.visit(url)

    def switch_to_tab(self, index: int) -> None:
        try:
            self.driver.switch_to.window(self.driver.window_handles[index])
        except (WebDriverException, IndexError) as e:
            raise ActionFailed(f"could not switch to tab {index}: {e}") from e

    def screenshot(self) -> bytes | None:
        return screenshot(self.driver)

    def nudges(self) -> list[tuple[str, Callable[[], object]]]:
        """What a user does that makes telemetry leave (before the drain): the browser closed,
        as an app backgrounded, and opened again, as an app's next start."""
        return [("the browser is closed", self.quit),
                ("the browser is reopened", lambda: self.ensure(incognito=False))]

    def quit(self) -> None:
        quit_session(self.driver)
        self.driver, self.incognito = None, None
