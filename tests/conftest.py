"""Shared fixtures of Telltale's own tests: the checkout, and the real chain for end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telltale import inventory, paths, provision
from telltale.appium_server import AppiumServer
from telltale.browser import Browser
from telltale.capture.proxy import CaptureProxy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def layout() -> paths.Layout:
    return paths.layout(ROOT)


@pytest.fixture(scope="session")
def ready(layout: paths.Layout) -> paths.Layout:
    """The machine set up as `telltale setup` leaves it (fails, naming what is missing, if not)."""
    missing = provision.missing_system_packages()
    if missing:
        pytest.fail(f"run `telltale setup` first: missing {' '.join(missing)}")
    provision.setup(layout, system=False)
    return layout


@pytest.fixture(scope="session")
def chain(ready: paths.Layout, tmp_path_factory) -> Iterator[tuple[CaptureProxy, Browser]]:
    """The real chain once for the session: mitmdump, an Appium server, Chromium."""
    work = tmp_path_factory.mktemp("chain")
    dev = inventory.load(ready.devices).get(inventory.DEFAULT_DEVICE)
    proxy = CaptureProxy(dev.name, work / "captures", ready.mitmproxy_conf)
    proxy.start()
    server = AppiumServer(ready, dev.name, work / "work")
    try:
        server.start()
        browser = Browser(dev, server.url, proxy.url)
        yield proxy, browser
        browser.quit()
    finally:
        server.stop()
        proxy.stop()
