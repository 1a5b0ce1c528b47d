"""Steps that drive the device's browser. Each action registers its positive control."""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, when

from telltale.browser import Browser, Visit
from telltale.canaries import ScenarioCanaries
from telltale.window import Window


@pytest.fixture
def browsing_mode(browser: Browser) -> str:
    """Without a Given step, a scenario browses in normal mode."""
    browser.ensure(incognito=False)
    return "normal"


@given(parsers.parse("the browser is in {mode} mode"), target_fixture="browsing_mode")
def browser_in_mode(mode: str, browser: Browser) -> str:
    """Starts (or resets) the session before the capture window opens: browser start-up
    traffic is the device's baseline, the window holds what the scenario does."""
    if mode not in ("incognito", "normal"):
        raise ValueError(f"unknown browsing mode {mode!r}: use incognito or normal")
    browser.ensure(incognito=(mode == "incognito"))
    return mode


@when("I visit a page that exists only for this test", target_fixture="visited")
def visit_canary_page(browsing_mode: str, browser: Browser, capture_window: Window,
                      canaries: ScenarioCanaries) -> Visit:
    """Loads a URL that exists only for this scenario (its host, path and page are fresh canaries)."""
    return capture_window.act(lambda c: browser.visit(c.url), canaries)


@when(parsers.parse('I search "{engine}" for a term that exists only for this test'),
      target_fixture="searched")
def search_canary_term(engine: str, browsing_mode: str, browser: Browser, capture_window: Window,
                       canaries: ScenarioCanaries) -> Visit:
    """Opens the engine's page, types a fresh canary term into its search box and submits."""
    return capture_window.act(lambda c: browser.search(engine, c.search_term), canaries)


@when("I open a page that exists only for this test in a new tab", target_fixture="visited")
def open_canary_in_new_tab(browsing_mode: str, browser: Browser, capture_window: Window,
                           canaries: ScenarioCanaries) -> Visit:
    """Opens a new tab and loads a fresh canary URL in it."""
    return capture_window.act(lambda c: browser.open_in_new_tab(c.url), canaries)


@when("I switch back to the first tab")
def switch_to_first_tab(browser: Browser, capture_window: Window, canaries: ScenarioCanaries) -> None:
    """Makes the first tab the current one again (a page switch, as usage telemetry sees it)."""
    capture_window.act(lambda c: browser.switch_to_tab(0), canaries)


@given("the system browser is in incognito mode by its own toggle", target_fixture="browsing_mode")
def system_browser_incognito(browser: Browser) -> str:
    """On a phone: opens the maker's browser and switches incognito on through its own menu."""
    browser.ensure(incognito=True)
    return "incognito"
