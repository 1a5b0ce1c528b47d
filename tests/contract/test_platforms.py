"""The platform registry is the one list of platforms: the devices.yaml schema, the platform gate,
lint's tags and the report's tag help are read from it, and each driver in it is a Driver."""

import inspect
import typing
from types import SimpleNamespace

import pytest

from fixtures import allure_wiring, lint
from fixtures.device import platforms_needed
from telltale import inventory
from telltale.errors import ConfigError, SetupError
from telltale.platforms import PLATFORMS, Driver, Platform, open_driver

CAPTURE = SimpleNamespace(url="http://192.0.2.7:8089", local_url="http://127.0.0.1:8089")


def _device(platform: str, capture: str | None = None) -> inventory.Device:
    text = (f"devices:\n  d:\n    platform: {platform}\n    appium: local\n"
            "    apps: {system_browser: com.mi.globalbrowser}\n")
    if capture:
        text += f"    capture: {capture}\n"
    return inventory.parse(text).get("d")


class _Scenario:
    """Stands in for a collected scenario: only its tags (markers) matter to the gate."""

    def __init__(self, *tags: str) -> None:
        self.tags = set(tags)

    def get_closest_marker(self, name: str):
        return SimpleNamespace(name=name) if name in self.tags else None


def test_the_schema_accepts_exactly_the_registry_keys():
    assert typing.get_args(inventory.Device.model_fields["platform"].annotation) == tuple(PLATFORMS)
    for name in PLATFORMS:
        assert _device(name).platform == name
    *first, last = (repr(name) for name in PLATFORMS)  # pydantic's wording: 'a', 'b' or 'c'
    with pytest.raises(ConfigError, match=f"Input should be {', '.join(first)} or {last}$"):
        _device("windows-phone")


def test_lint_and_the_report_know_exactly_the_tagged_platforms():
    tagged = {name for name, p in PLATFORMS.items() if p.tagged}
    assert {"android", "ios"} <= tagged and "chromium" not in tagged  # as the features are written
    assert lint.PLATFORM_TAGS == tagged
    assert lint._tag_problems(tagged) == []
    assert lint._tag_problems({"chromium"}) != []
    assert {tag for tag, why in allure_wiring.PLAIN_TAGS.items() if why.startswith("needs an ")} == tagged
    assert allure_wiring.PLAIN_TAGS["ios"] == "needs an iOS device"


def test_the_platform_gate_walks_the_registry(monkeypatch):
    assert platforms_needed(_Scenario("ios", "incognito")) == ["ios"]
    assert platforms_needed(_Scenario("android", "ios")) == ["android", "ios"]
    assert platforms_needed(_Scenario("search")) == []
    monkeypatch.setitem(PLATFORMS, "tizen", Platform("tizen", title="Tizen", drain=180.0, tagged=True))
    assert platforms_needed(_Scenario("tizen")) == ["tizen"]


def test_the_platform_decides_the_default_boundary_and_drain():
    for name, p in PLATFORMS.items():
        dev = _device(name)
        assert dev.boundary == ("sealed" if p.embedded else "proxy"), name
        assert dev.drain_seconds == p.drain, name
    with pytest.raises(ConfigError, match=r"capture: sealed needs an embedded device \(platform chromium,"):
        _device("android", capture="sealed")


def test_each_driver_has_every_method_of_the_protocol_with_its_signature():
    members = typing.get_protocol_members(Driver)
    assert {"ensure", "visit", "search", "screenshot", "nudges", "quit"} <= members
    drivers = [open_driver(_device(name), "http://127.0.0.1:1", CAPTURE)
               for name, p in PLATFORMS.items() if p.open_driver]
    assert {"chromium", "android"} <= {name for name, p in PLATFORMS.items() if p.open_driver}
    for drv in drivers:
        assert isinstance(drv, Driver)
        for m in members:
            want = [(a.name, a.default) for a in inspect.signature(getattr(Driver, m)).parameters.values()]
            got = [(a.name, a.default) for a in inspect.signature(getattr(type(drv), m)).parameters.values()]
            assert got == want, f"{type(drv).__name__}.{m}"


def test_the_embedded_browser_enters_the_capture_by_loopback_or_not_at_all_when_sealed():
    assert open_driver(_device("chromium", capture="proxy"), "http://127.0.0.1:1", CAPTURE).proxy_url \
        == CAPTURE.local_url
    assert open_driver(_device("chromium"), "http://127.0.0.1:1", CAPTURE).proxy_url is None


def test_a_platform_without_a_driver_is_named_at_setup():
    with pytest.raises(SetupError, match=r"^device d: platform ios has no browser driver in this version "
                       r"\(only chromium, android\)$"):
        open_driver(_device("ios"), "http://127.0.0.1:1", CAPTURE)


def test_a_hosts_relay_node_offers_what_the_platforms_session_request_asks_for():
    """The Grid hub routes a session to a node whose slot offers the same capabilities: each
    driven platform's stereotype is part of what its driver asks for, and names its Appium driver."""
    from telltale.android.capabilities import uiautomator2
    from telltale.browser import chromium_capabilities

    asks = {"chromium": chromium_capabilities(_device("chromium"), None, False),
            "android": uiautomator2(_device("android"))}
    assert set(asks) == {name for name, p in PLATFORMS.items() if p.open_driver}
    for name, caps in asks.items():
        offered = dict(PLATFORMS[name].stereotype)
        assert offered and offered.items() <= caps.items(), name
        assert caps.get("appium:automationName", "").lower() == PLATFORMS[name].appium_driver, name
    assert all(p.appium_driver and dict(p.stereotype).get("platformName") for p in PLATFORMS.values())
