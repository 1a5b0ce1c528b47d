"""Through the real chain: Appium drives Chromium, mitmdump captures, the detector judges.

A page leaks a canary base64-encoded to another host: the capture has it and
the judge names the host; the clean twin (the same visit without the leak) has
no finding. Both windows must see their own visit (positive control).
"""

import base64
import json
import secrets

import pytest

from telltale import canaries, judge
from telltale.errors import CaptureBroken
from telltale.window import Window

pytestmark = pytest.mark.e2e


def _window(proxy, name):
    w = Window(proxy, f"{name}-{secrets.token_hex(3)}")
    proxy.open_window(w.id)
    return w


def test_planted_leak_is_seen_in_the_capture_and_its_clean_twin_is_not(chain):
    proxy, browser = chain
    browser.ensure(incognito=True)
    c = canaries.fresh()

    leaky = _window(proxy, "leaky")
    visit = leaky.expect(browser.visit(c.url))
    # Firmware-style telemetry: the visited URL, base64 in JSON, to an analytics host.
    payload = base64.b64encode(json.dumps({"u": c.url}).encode()).decode()
    browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('https://analytics.telemetry.example.org/collect', {method: 'POST', body: arguments[0]})"
        ".then(() => done(true), (e) => done(String(e)));", json.dumps({"blob": payload}))
    traffic = leaky.traffic()
    hosts = {f.request.pretty_host for f in traffic.flows}
    assert {c.site, "analytics.telemetry.example.org"} <= hosts
    found = judge.check(traffic.flows, c.named(), allowed=judge.same_host(visit.host)).findings
    assert {f.host for f in found} == {"analytics.telemetry.example.org"}
    assert any(f.canary == "visited_url" and "base64" in " ".join(f.chain) for f in found)

    c2 = canaries.fresh()
    clean = _window(proxy, "clean")
    visit2 = clean.expect(browser.visit(c2.url))
    traffic2 = clean.traffic()
    assert judge.check(traffic2.flows, c2.named(), allowed=judge.same_host(visit2.host)).findings == ()
    # ...while the visit itself is in the capture, with the canary in it.
    assert judge.check(traffic2.flows, c2.named(), allowed=lambda h: False).findings


def test_window_without_its_own_traffic_is_broken_not_passed(chain):
    proxy, browser = chain
    browser.ensure(incognito=True)
    w = _window(proxy, "no-control")
    w.expect(browser.visit(canaries.fresh().url))
    # Claim a visit that never happened: the positive control must fail closed.
    from telltale.browser import Visit

    w.expect(Visit("https://never.example/x", "never.example", "/x"))
    with pytest.raises(CaptureBroken, match="positive control missing: .*never.example"):
        w.traffic()


def test_incognito_is_checked_on_the_real_browser(chain):
    _, browser = chain
    browser.ensure(incognito=False)
    assert browser.command_line_has("--incognito") is False
    browser.ensure(incognito=True)
    assert browser.command_line_has("--incognito") is True
