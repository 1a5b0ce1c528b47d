"""Who may see what: the visited site may get its URL, a third party may not; a resolver may
resolve the visited site's name, but a canary hidden in another domain's DNS labels is a leak."""

import base64

from mitmproxy import dns, http
from mitmproxy.test import tflow

from telltale import judge

URL = "https://tt-0123456789.example.net/read/abcdef0123"
CANARIES = {"visited_url": URL, "visited_site": "tt-0123456789.example.net"}


def _post(host: str, body: bytes):
    f = tflow.tflow(resp=True)
    f.request = http.Request.make("POST", f"https://{host}/c", body)
    return f


def _lookup(name: str):
    f = tflow.tdnsflow()
    f.request = dns.DNSMessage(
        id=1, query=True, op_code=0, authoritative_answer=False, truncation=False,
        recursion_desired=True, recursion_available=False, reserved=0, response_code=0,
        questions=[dns.Question(name, dns.types.A, dns.classes.IN)],
        answers=[], authorities=[], additionals=[])
    return f


def test_site_may_get_its_own_url_a_third_party_may_not():
    own = _post("tt-0123456789.example.net", URL.encode())
    other = _post("tracking.example.org", base64.b64encode(URL.encode()))
    found = judge.check([own, other], CANARIES, allowed=judge.same_host("tt-0123456789.example.net")).findings
    assert {f.host for f in found} == {"tracking.example.org"}


def test_resolving_the_visited_site_is_no_leak_but_dns_exfiltration_is():
    lookup = _lookup("tt-0123456789.example.net")
    own = judge.same_host("tt-0123456789.example.net")
    assert judge.check([lookup], CANARIES, allowed=own).findings == ()
    exfil = _lookup("tt-0123456789.example.net.exfil.example.com")
    found = judge.check([exfil], CANARIES, allowed=judge.same_host("tt-0123456789.example.net")).findings
    assert found and all(f.canary == "visited_site" for f in found)


def test_nobody_is_entitled_to_identifiers():
    f = _post("tt-0123456789.example.net", b'{"imei": "867530900000001"}')
    found = judge.check([f], {}, allowed=judge.nobody, identifiers={"imei": "867530900000001"}).findings
    assert [x.canary for x in found] == ["imei"]
