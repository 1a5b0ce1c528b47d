"""The positive control: a window must contain the request its own action caused, answered;
and every conversation the packet record saw in it is accounted for."""

import io as pyio

import pytest
from mitmproxy import io
from mitmproxy.test import tflow

from telltale.browser import Visit
from telltale.capture.proxy import WindowSpan
from telltale.capture.store import WINDOW_KEY
from telltale.domains import registrable_domain, same_party
from telltale.errors import CaptureBroken
from telltale.window import Window, missing_controls


def _get(host, path, answered=True):
    f = tflow.tflow(resp=answered)
    f.request.host = host
    f.request.headers["host"] = host
    f.request.path = path
    return f


def test_seen_visit_passes_and_missing_one_is_named():
    flows = [_get("a.example", "/read/1?x=1")]
    ok = Visit("https://a.example/read/1?x=1", "a.example", "/read/1", "x=1")
    other = Visit("https://a.example/read/2", "a.example", "/read/2")
    assert missing_controls(flows, [ok]) == []
    assert missing_controls(flows, [ok, other]) == [other]


def test_unanswered_request_is_not_a_control():
    v = Visit("https://a.example/p", "a.example", "/p")
    assert missing_controls([_get("a.example", "/p", answered=False)], [v]) == [v]


def test_registrable_domain_uses_the_public_suffix_list():
    assert registrable_domain("a.b.search.example.co.uk") == "example.co.uk"
    assert same_party("cdn.search.example.com", "search.example.com")
    assert not same_party("search.example.com.evil.net", "search.example.com")


def test_an_ip_literal_is_its_own_party():
    assert registrable_domain("8.8.8.8") == "8.8.8.8"
    assert registrable_domain("[2001:db8::1]") == "[2001:db8::1]"
    assert not same_party("8.8.4.4", "8.8.8.8")


class _Witness:
    """Stands for the packet record: one DNS query, examined only if the proxy's flow of it is given."""

    def __init__(self, query_flow_id):
        self.query_flow_id, self.calls = query_flow_id, 0

    def account(self, span, flows):
        self.calls += 1
        if any(f.id == self.query_flow_id for f in flows):
            return [], [], {"dns": 1}
        return [tflow.tflow()], ["udp 53 not examined"], {"not-examined": 1}


class _Proxy:
    def __init__(self, span, witness):
        self.span, self.witness = span, witness

    def close_window(self):
        return self.span


def _window_then_late_flow(tmp_path):
    """A capture file with a window's own flow, and after the window's end a flow written late."""
    own, late = tflow.tflow(resp=True), tflow.tflow(resp=True)
    own.metadata[WINDOW_KEY], late.metadata[WINDOW_KEY] = "w1", "gap-after:w1"
    buf = pyio.BytesIO()
    w = io.FlowWriter(buf)
    w.add(own)
    end = buf.tell()
    w.add(late)
    path = tmp_path / "c.mitm"
    path.write_bytes(buf.getvalue())
    return own, late, buf, end, path


def test_a_lookup_in_flight_at_the_close_is_matched_with_its_flow_written_just_after(tmp_path):
    """The packet record sees a query before the capture writes its flow: a flow that lands just
    after the window's records accounts for it, and is not made one of the window's flows."""
    own, late, buf, end, path = _window_then_late_flow(tmp_path)
    span = WindowSpan("w1", path, 0, end, 0, ())
    traffic = Window(_Proxy(span, _Witness(late.id)), "w1").traffic()
    assert [f.id for f in traffic.flows] == [own.id] and traffic.accounted == {"dns": 1}
    # with no such flow after the close, the conversation stays unexamined: the window is broken
    span = WindowSpan("w1", path, 0, end, 0, ())
    path.write_bytes(buf.getvalue()[:end])
    with pytest.raises(CaptureBroken, match="udp 53 not examined"):
        Window(_Proxy(span, _Witness(late.id)), "w1").traffic()


def test_a_lab_host_matches_a_lookup_in_flight_at_the_close_as_the_run_does(tmp_path):
    """The host closes its device's windows and gives the run the packet record's account: the
    flow written just after the close accounts for the lookup there too."""
    from types import SimpleNamespace

    from telltale.farm.host import HostedDevice, decode_flows

    own, late, buf, end, path = _window_then_late_flow(tmp_path)
    span = WindowSpan("w1", path, 0, end, 0, ())
    station = SimpleNamespace(proxy=_Proxy(span, None), witness=_Witness(late.id))
    reply = HostedDevice(SimpleNamespace(name="d"), station).close_window()
    assert reply["account"]["summary"] == {"dns": 1} and decode_flows(reply["account"]["flows"]) == []
    path.write_bytes(buf.getvalue()[:end])
    reply = HostedDevice(SimpleNamespace(name="d"), station).close_window()
    assert reply["account"]["problems"] == ["udp 53 not examined"]
