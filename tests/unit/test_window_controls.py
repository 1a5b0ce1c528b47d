"""The positive control: a window must contain the request its own action caused, answered."""

from mitmproxy.test import tflow

from telltale.browser import Visit
from telltale.domains import registrable_domain, same_party
from telltale.window import missing_controls


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
