"""A client that pins its certificates, through the real capture proxy: never a pass."""

from __future__ import annotations

import pytest

from telltale.capture import store
from telltale.capture.proxy import CaptureProxy
from telltale.destinations import rules, transport
from telltale.destinations.policy import Policy
from telltale.errors import CaptureBroken
from telltale.window import Window

from .clients import pinned_connect, post


@pytest.fixture
def proxy(ready, tmp_path):
    p = CaptureProxy("phone", tmp_path, ready.mitmproxy_conf,
                     hosts={"tracking.intl.miui.com": "47.241.10.20"})
    p.start()
    yield p
    p.stop()


def test_refused_tls_is_unexamined_and_the_window_is_never_passed(ready, proxy):
    window = Window(proxy, "w-pinned")
    proxy.open_window(window.id)
    assert pinned_connect(proxy.port, "pinned.example.org") != "accepted"
    assert post(proxy.url, "https://tracking.intl.miui.com/track", ready.ca_cert) == 204
    with pytest.raises(CaptureBroken, match="TLS refused by the client"):
        window.traffic()
    traffic = window._traffic
    refused = transport.tls_refusals(traffic.span.tls_failures)
    assert [u.host for u in refused] == ["pinned.example.org"]
    seen = rules.Traffic(transport.contacts(traffic.flows), refused)
    result = rules.check_unexamined(seen, Policy(), rules.Lookups())
    assert not result.passed and [f.host for f in result.unexamined] == ["pinned.example.org"]
    # the other rules cannot pass either: the pinned connection's content is unknown to them
    lk = rules.lookups_for(Policy())
    assert not rules.check_trackers(seen, Policy(), lk).passed
    assert not rules.check_countries(seen, Policy(forbidden=("SG",)), lk).passed
    # the events file the CLI reads holds the same refusal
    events = transport.read_events(transport.events_file(traffic.span.capture))
    assert [e["sni"] for e in events if e["event"] == "tls_failed_client"] == ["pinned.example.org"]
    # the flow that was read carries the offline host map's address: judged SG
    (flow,) = [f for f in store.read_flows(traffic.span.capture)]
    assert transport.contact(flow).ip == "47.241.10.20"
