"""Every encoding, alone and chained, planted in traffic: found in memory, in flow files and in HAR.

Each planted flow carries the canary once, in one way; its clean twin
carries something close that is not the canary and must not be flagged.
"""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import quote

import pytest
from mitmproxy import http
from plant import (ENCODERS, dns_flow, encode, http_flow, is_subsequence, raw_flow, write_flows,
                   write_har, ws_flow)

from telltale.detect import Canary, Detector, scan_files, scan_flows

URL = "https://tt-4f2a9c7e.example.net/read/9b1e77?s=amber telltale"
IMEI = "358240051111110"
OTHER_IMEI = "490154203237518"
MAC = "3C:5A:B4:01:9E:7F"
CANARIES = [Canary("visited_url", URL), Canary("imei", IMEI, "identifier"),
            Canary("mac", MAC, "identifier")]

CHAINS = [
    ("json_field", "base64", "json_field", "gzip"),  # applied inner first: gzip > json > base64 > json
    ("url", "base64"),
    ("json_field", "gzip", "base64"),
    ("protobuf", "zstd", "base64url", "form"),
    ("json_field", "raw_deflate", "base64", "json_field"),
    ("json_field", "zlib", "hex", "json_field"),
    ("json_escaped", "base64_in_blob_1", "json_field"),
    ("json_field", "zlib", "multipart"),
    ("base64", "base64"),
    ("url_twice", "json_field", "gzip"),
]


def _body_cases():
    """(id, flow, expected steps): a body per encoder and chain, compressed ones with and without header."""
    cases = []
    value = URL.encode()
    for name in ENCODERS:
        body, steps = encode(value, [name])
        cases.append((f"body-{name}", http_flow(body=body), steps))
    for name, plant in ENCODERS.items():
        if plant.content_encoding:
            body, steps = encode(value, [name])
            cases.append((f"body-{name}-header", http_flow(
                body=body, headers={"content-encoding": plant.content_encoding}), steps))
    gz_json, _ = encode(value, ["json_field", "gzip"])
    cases.append(("body-gzip-then-br-header", http_flow(
        body=ENCODERS["brotli"].encode(gz_json), headers={"content-encoding": "gzip, br"}),
        ("br", "gzip", "json")))
    for chain in CHAINS:
        body, steps = encode(value, chain)
        cases.append(("chain-" + "-".join(chain), http_flow(body=body), steps))
    form, _ = encode(value, ["form"])
    cases.append(("body-form-declared", http_flow(
        body=form, headers={"content-type": "application/x-www-form-urlencoded"}), ("form",)))
    return cases


def _carrier_cases():
    v = URL.encode()
    b64 = base64.urlsafe_b64encode(v).rstrip(b"=").decode()
    return [
        ("query", http_flow(path="/c?u=" + quote(URL, safe="") + "&k=1"), ("query",)),
        ("query-base64", http_flow(path="/c?d=" + b64), ("query", "base64")),
        ("path-base64", http_flow(path="/v1/e/" + b64 + "/x"), ("path", "base64")),
        ("header", http_flow(headers={"X-Client-Data": base64.b64encode(v).decode()}), ("base64",)),
        ("referer", http_flow(headers={"Referer": URL}), ()),
        ("cookie", http_flow(headers={"Cookie": "a=b; last=" + quote(URL, safe="") + "; z=1"}),
         ("cookie",)),
        ("websocket", ws_flow([b"hello", json.dumps({"ev": "nav", "u": URL}).encode()]), ("json",)),
        ("tcp", raw_flow("tcp", [b"HELO", b"\x00\x01" + base64.b64encode(v) + b"\x00"]), ("base64",)),
        ("udp", raw_flow("udp", [b"ping " + v.hex().encode()]), ("hex",)),
    ]


def _identifier_cases():
    md5 = hashlib.md5(IMEI.encode()).hexdigest()
    sha1 = base64.b64encode(hashlib.sha1(IMEI.encode()).digest()).decode()
    sha256 = hashlib.sha256(IMEI.encode()).hexdigest().upper()
    return [
        ("imei-md5", http_flow(path=f"/a?did={md5}"), ("md5",), "imei"),
        ("imei-sha1-base64", http_flow(body=json.dumps({"d": sha1}).encode()), ("sha1-base64",), "imei"),
        ("imei-sha256-gzip", http_flow(body=encode(json.dumps({"h": sha256}).encode(), ["gzip"])[0]),
         ("gzip", "sha256"), "imei"),
        ("imei-plain-protobuf", http_flow(body=encode(IMEI.encode(), ["protobuf"])[0]), (), "imei"),
        ("mac-bare-lower", http_flow(path="/m?mac=" + MAC.replace(":", "").lower()), ("query",), "mac"),
        ("mac-sha256", http_flow(path="/m?h=" + hashlib.sha256(MAC.lower().encode()).hexdigest()),
         ("sha256",), "mac"),
    ]


def _clean_twins():
    """Close to a leak, but not one: must never be flagged."""
    prefix = URL[:-2].encode()
    other = hashlib.sha256(OTHER_IMEI.encode()).hexdigest()
    return [
        ("prefix-only", http_flow(body=b"u=" + prefix + b"&" + base64.b64encode(prefix))),
        ("prefix-gzip", http_flow(body=encode(prefix, ["json_field", "gzip"])[0])),
        ("other-imei-hashed", http_flow(path=f"/a?did={other}&md5="
                                        + hashlib.md5(OTHER_IMEI.encode()).hexdigest())),
        ("response-only", http_flow(response=b'{"u": "' + URL.encode() + b'"}',
                                    resp_headers={"X-Echo": URL})),
        ("response-gzip-only", http_flow(response=encode(URL.encode(), ["gzip"])[0],
                                         resp_headers={"content-encoding": "gzip"})),
        ("websocket-server-only", ws_flow([b"hello"], [URL.encode()])),
        ("tcp-server-only", raw_flow("tcp", [b"HELO"], [URL.encode()])),
        ("dns-other", dns_flow("example.org")),
    ]


BODY = _body_cases()
CARRIERS = _carrier_cases()
IDENTS = _identifier_cases()
TWINS = _clean_twins()


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.build(CANARIES)


@pytest.mark.parametrize("case", BODY + CARRIERS, ids=[c[0] for c in BODY + CARRIERS])
def test_planted_url_is_found_with_its_chain(detector, case):
    _, flow, steps = case
    found = [f for f in detector.scan_flow(flow) if f.canary == "visited_url"]
    assert found, "not found"
    assert any(is_subsequence(steps, f.chain) for f in found), [(f.location, f.chain) for f in found]
    assert all(f.flow == flow.id for f in found)


@pytest.mark.parametrize("case", IDENTS, ids=[c[0] for c in IDENTS])
def test_identifiers_found_plain_and_hashed(detector, case):
    _, flow, steps, name = case
    found = [f for f in detector.scan_flow(flow) if f.canary == name]
    assert found and any(is_subsequence(steps, f.chain) for f in found), \
        [(f.location, f.chain) for f in found]


@pytest.mark.parametrize("case", TWINS, ids=[c[0] for c in TWINS])
def test_clean_twin_is_not_flagged(detector, case):
    assert detector.scan_flow(case[1]) == []


def test_dns_question_is_a_leak():
    det = Detector.build([Canary("site", "tt-4f2a9c7e.example.net")])
    (f,) = det.scan_flow(dns_flow("tt-4f2a9c7e.example.net"))
    assert f.location == "dns.question[0]" and f.canary == "site"


def test_location_and_chain_say_how_it_was_hidden(detector):
    body, _ = encode(URL.encode(), ["json_field", "base64", "json_field", "gzip"])
    flow = http_flow(body=body, headers={"content-encoding": "gzip"})
    (f,) = detector.scan_flow(flow)
    assert f.location == "request.body gzip > json $.a[1].name > base64 > json $.a[1].name"
    assert f.chain == ("gzip", "json", "base64", "json")
    assert f.host == "tracker.example.com" and f.server_ip == "203.0.113.7"
    assert "«" + URL + "»" in f.excerpt


def test_same_place_once_and_stable_order(detector):
    v = URL.encode()
    flow = http_flow(path="/c?u=" + quote(URL, safe=""),
                     body=b"a=" + base64.b64encode(v) + b"&b=" + base64.b64encode(v) + b"&c="
                     + 2 * quote(URL, safe="").encode())
    got = detector.scan_flow(flow)
    keys = [(f.canary, f.location) for f in got]
    assert len(keys) == len(set(keys))
    assert [k[1] for k in keys] == ["request.url query u", "request.body form a > base64",
                                    "request.body form b > base64", "request.body form c"]
    assert got == detector.scan_flow(flow)


def _all_cases():
    url_cases = [(cid, flow, steps, "visited_url") for cid, flow, steps in BODY + CARRIERS]
    return url_cases + IDENTS


def _check_file_result(result, cases, flow_key):
    by_flow: dict = {}
    for f in result.findings:
        by_flow.setdefault(f.flow, []).append(f)
    missing = [cid for i, (cid, flow, steps, name) in enumerate(cases)
               if not any(f.canary == name and is_subsequence(steps, f.chain)
                          for f in by_flow.get(flow_key(i, flow), []))]
    assert missing == []


def test_flow_file_gives_every_planted_case_and_no_twin(tmp_path):
    cases = _all_cases() + [("dns", dns_flow("tt-4f2a9c7e.example.net"), (), "site")]
    twins = [flow for _, flow in TWINS]
    path = write_flows(tmp_path / "cap.mitm", [c[1] for c in cases] + twins)
    result = scan_files([path], CANARIES + [Canary("site", "tt-4f2a9c7e.example.net")])
    assert result.errors == () and result.flows_scanned == len(cases) + len(twins)
    assert result.truncated == ()  # nothing here is damaged or oversized: no false alarm
    _check_file_result(result, cases, lambda i, flow: flow.id)
    # the site is part of the twins' URL prefix: only the full URL and identifiers must stay unseen
    assert not {f.flow for f in result.findings if f.canary != "site"} & {t.id for t in twins}
    assert all(f.capture == str(path) for f in result.findings)


def test_har_file_gives_every_planted_http_case_and_no_twin(tmp_path):
    cases = [c for c in _all_cases() if isinstance(c[1], http.HTTPFlow)]
    twins = [flow for _, flow in TWINS if isinstance(flow, http.HTTPFlow)]
    path = write_har(tmp_path / "cap.har", [c[1] for c in cases] + twins)
    result = scan_files([path], CANARIES)
    assert result.errors == () and result.flows_scanned == len(cases) + len(twins)
    _check_file_result(result, cases, lambda i, flow: i)
    assert {f.flow for f in result.findings} <= set(range(len(cases)))
    assert all(f.server_ip == "203.0.113.7" for f in result.findings if f.location.startswith("request"))


def test_in_memory_window_scan(detector):
    flows = [c[1] for c in BODY[:5]] + [t[1] for t in TWINS]
    result = scan_flows(flows, detector)
    assert result.flows_scanned == len(flows) and result.errors == ()
    assert {f.flow for f in result.findings} == {f.id for f in flows[:5]}
