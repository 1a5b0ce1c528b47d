"""Test-only suite: one farm host's Appium server dies mid-run (run by test_farm.py)."""

from pytest_bdd import parsers, scenarios, when

scenarios("farm_faults.feature")


@when(parsers.parse('the Appium server of "{name}" stops'))
def appium_server_stops(name, device_name, appium_server):
    if device_name == name:
        appium_server.proc.kill()
        appium_server.proc.wait(10)


@when(parsers.parse('the browser session of "{name}" ends'))
def browser_session_ends(name, device_name, browser):
    """Behind the suite's back, as when a phone reboots or Appium drops the session."""
    if device_name == name:
        browser.driver.quit()
