"""Every encoding the leaky reference agent can use is one the detector sees through."""

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from telltale.detect import Canary, scan_flows
from telltale.reference.agent import encode, hashed, search_query

URL = "https://tt-0123456789.example.net/read/abcdef0123?q=zebra+telltale+5a5a5a5a5a5a"
IMEI = "867530900000001"


@pytest.mark.parametrize("encoding", ["json", "base64", "gzip+base64"])
@pytest.mark.parametrize("id_hash", ["none", "sha256", "md5"])
def test_agent_payload_is_found_in_every_encoding(encoding, id_hash):
    payload = {"event": "page_view", "url": URL, "search": search_query(URL),
               "device": {"imei": hashed(IMEI, id_hash)}}
    body, headers = encode(payload, encoding)
    f = tflow.tflow(resp=True)
    f.request = http.Request.make("POST", "https://tracking.intl.miui.com/track", body, headers)
    result = scan_flows([f], [Canary("url", URL), Canary("term", "zebra telltale 5a5a5a5a5a5a"),
                              Canary("imei", IMEI, "identifier")])
    assert {x.canary for x in result.findings} == {"url", "term", "imei"}
    if encoding != "json":
        assert all("base64" in x.chain for x in result.findings)


def test_clean_twin_payload_is_not_flagged():
    body, headers = encode({"event": "page_view", "url": "https://other.example/"}, "base64")
    f = tflow.tflow(resp=True)
    f.request = http.Request.make("POST", "https://tracking.intl.miui.com/track", body, headers)
    assert scan_flows([f], [Canary("url", URL), Canary("imei", IMEI, "identifier")]).findings == ()


def test_search_query_is_read_from_the_url():
    assert search_query(URL) == "zebra telltale 5a5a5a5a5a5a"
    assert search_query("https://a.example/read/1") is None
