"""Differential runs: what moves with the canary is found where no decoder reads it; what
changes on every run is noise (harmless when small or a clock, opaque otherwise).

Three runs of the same actions as real mitmproxy flows: A (canary set A), B (set B, same
lengths), R (A repeated). Each body below is what a firmware with a key baked in would send.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import uuid

import pytest

from telltale.cli import main
from telltale.detect import Canary, compare_runs, differential, scan_flows
from telltale.judge import same_host
from tests.detect.cli_inputs import flip_length_digit
from tests.detect.plant import http_flow, write_flows, write_har

KEY = b"\x5a\xc3\x17\x9e"  # the firmware's fixed key
CANARY_A = "https://tt-Zq7Xw2Pk9Lm4Rt8v.example.net/"
CANARY_B = "https://tt-Ab3Cd4Ef5Gh6Ij7k.example.net/"  # same length, other characters
TS = {"A": 1718000000123, "B": 1718000004567, "R": 1718000009876}  # the clock moves between runs
HOST = "tracking.intl.miui.com"
PATH = "/c/v2/collect"


def xor(data: bytes, key: bytes = KEY) -> bytes:
    return bytes(c ^ key[i % len(key)] for i, c in enumerate(data))


def payload(url: str, ts: int) -> bytes:
    return json.dumps({"ts": ts, "u": url, "v": 3}).encode()


def canary_of(run: str) -> str:
    return CANARY_B if run == "B" else CANARY_A


def runs(body, host: str = HOST, path: str = PATH, **kw) -> tuple[list, list, list]:
    """One request per run, its body `body(run)`."""
    return tuple([http_flow(path, body(run), host=host, **kw)] for run in "ABR")  # type: ignore[return-value]


def xor_body(run: str) -> bytes:
    return xor(payload(canary_of(run), TS[run]))


def test_an_xor_payload_moves_with_the_canary_where_no_decoder_sees_it():
    a, b, r = runs(xor_body)
    assert scan_flows(a, [Canary("url", CANARY_A)]).findings == (), \
        "the ordinary detector must not see through the XOR: else this test proves nothing"
    d = compare_runs(a, b, r)
    assert d.pairs == 1 and d.opaque == () and d.unpaired == ()
    (m,) = d.correlated
    plain = payload(CANARY_A, TS["A"])
    at = plain.index(CANARY_A.encode())
    assert (m.kind, m.host, m.method, m.path) == ("correlated", HOST, "POST", PATH)
    assert m.location == "request.body"
    assert at <= m.start < m.end <= at + len(CANARY_A) and m.size == len(plain)
    assert not m.readable and m.flows == (a[0].id, b[0].id, r[0].id)
    assert m.detail == (f"the body of POST {HOST}{PATH} changes with the canary: {m.end - m.start} bytes "
                        f"at offset {m.start}..{m.end}, not readable")


def test_its_clean_twin_with_a_changing_timestamp_gives_nothing():
    """The same XORed body, with the clock in it but no canary: noise of a few bytes is harmless."""
    a, b, r = runs(lambda run: xor(payload("https://static.example.org/config", TS[run])))
    d = compare_runs(a, b, r)
    assert (d.correlated, d.opaque, d.pairs) == ((), (), 1)


def test_a_random_nonce_is_opaque_and_the_xor_payload_after_it_still_moves():
    a, b, r = runs(lambda run: os.urandom(32) + xor_body(run))
    d = compare_runs(a, b, r)
    (o,) = d.opaque
    assert o.start <= 3 and 29 <= o.end <= 32, "the nonce (a byte may match by chance at its edges)"
    assert "changes on every run" in o.detail and o.detail.endswith("not readable")
    (m,) = d.correlated
    at = 32 + payload(CANARY_A, TS["A"]).index(CANARY_A.encode())
    assert at <= m.start < m.end <= at + len(CANARY_A)


def random_iv_encryption(run: str) -> bytes:
    iv = os.urandom(16)
    stream = b"".join(hashlib.sha256(iv + KEY + bytes([i])).digest() for i in range(8))
    plain = payload(canary_of(run), 1718000000000)
    return iv + bytes(x ^ y for x, y in zip(plain, stream, strict=False))


def test_random_iv_encryption_is_opaque_never_correlated():
    """Every byte changes between A and R: noise, even where it also differs between A and B."""
    a, b, r = runs(random_iv_encryption)
    d = compare_runs(a, b, r)
    assert d.correlated == ()
    (o,) = d.opaque
    assert o.start <= 2 and o.end >= o.size - 2 and o.size == 16 + len(payload(CANARY_A, 1718000000000))


def test_readable_json_whose_timestamp_date_and_request_id_change_gives_nothing():
    def body(run: str) -> bytes:
        return json.dumps({"request_id": str(uuid.uuid4()), "ts": TS[run],
                           "sent": f"2026-11-24T10:00:0{'ABR'.index(run)}.{TS[run] % 1000:03d}Z",
                           "event": "page_view", "n": [1, 2]}).encode()

    a, b, r = runs(body, headers={"X-Request-Id": str(uuid.uuid4()), "Date": "Tue, 24 Nov 2026 10:00:00 GMT"})
    r[0].request.headers["X-Request-Id"] = str(uuid.uuid4())
    r[0].request.headers["Date"] = "Tue, 24 Nov 2026 10:00:09 GMT"
    d = compare_runs(a, b, r)
    assert (d.correlated, d.opaque, d.pairs) == ((), (), 1)


def leaf_body(run: str) -> bytes:
    return json.dumps({"events": [{"u": canary_of(run), "ts": TS[run]}]}).encode()


def test_a_json_leaf_with_the_canary_to_an_entitled_host_is_nothing_and_to_another_correlated():
    a, b, r = runs(leaf_body, host="collector.example.net")
    assert compare_runs(a, b, r, same_host("collector.example.net")).correlated == ()
    d = compare_runs(a, b, r, same_host("www.example.net"))
    (m,) = d.correlated
    assert m.location == "request.body json $.events[0].u" and m.readable
    assert m.size == len(CANARY_A) and 11 <= m.start < m.end <= 27  # the token inside the URL
    assert m.detail.startswith("JSON field $.events[0].u of the body of POST "
                               f"collector.example.net{PATH} changes with the canary")
    assert m.detail.endswith(", readable")


def test_a_compressed_body_is_compared_decoded():
    """gzip of two bodies differs everywhere; what was compressed differs in the canary only."""
    a, b, r = runs(lambda run: gzip.compress(leaf_body(run), mtime=0), headers={"content-encoding": "gzip"})
    (m,) = compare_runs(a, b, r).correlated
    assert m.location == "request.body json $.events[0].u"
    assert "of the body (gzip, decoded) of POST" in m.detail


def test_a_canary_in_the_query_subdomain_and_path_still_pairs():
    def flow(run: str):
        token = canary_of(run)[11:27]
        return http_flow(f"/v1/{token}/ping?q={token}&ts={TS[run]}", host=f"{token.lower()}.t.example.com")

    a, b, r = ([flow(run)] for run in "ABR")
    d = compare_runs(a, b, r)
    assert d.unpaired == () and d.pairs == 1 and d.opaque == ()
    got = {m.location for m in d.correlated}
    assert got == {"request.url host", "request.url path", "request.url query q", "request.header[host]"}
    assert all(m.path == a[0].request.path for m in d.correlated)


def test_path_shape_hides_ids_not_words():
    assert differential.path_shape("/c/v2/collect?x=1") == "/c/v2/collect"
    assert differential.path_shape("/u/5f3a9c1e7b/events") == "/u/*/events"
    assert differential.path_shape("/u/Zq7Xw2Pk9Lm4Rt8v") == "/u/*"
    assert differential.path_shape("/api/configuration") == "/api/configuration"


def test_requests_without_a_counterpart_in_every_run_are_unpaired():
    a, b, r = runs(xor_body)
    a.append(http_flow("/only-in-a", b"x", host="extra.example.org"))
    b.insert(0, http_flow(PATH, xor_body("B"), host=HOST))  # B sent the collect request twice
    d = compare_runs(a, b, r)
    assert d.pairs == 1 and len(d.correlated) == 1
    assert len(d.unpaired) == 2
    assert d.unpaired[0].startswith(f"run B: POST {HOST}{PATH} (flow {b[1].id}): no counterpart in every run "
                                    "(A 1, B 2, R 1 such requests)")
    assert d.unpaired[1].startswith(f"run A: POST extra.example.org/only-in-a (flow {a[1].id})")


def test_a_value_longer_than_the_cap_is_cut_and_noted(monkeypatch):
    monkeypatch.setattr(differential, "MAX_VALUE", 64)
    a, b, r = runs(lambda run: b"\x00" * 100 + xor_body(run))
    d = compare_runs(a, b, r)
    assert d.correlated == () and any("compared the first" in n for n in d.notes)


def test_regions_of_one_value_are_capped(monkeypatch):
    monkeypatch.setattr(differential, "MAX_REGIONS", 3)
    a, b, r = runs(lambda run: (b"\x01" if run == "B" else b"\x02").join([b"\x00" * 8] * 10))
    (m1, m2, m3) = compare_runs(a, b, r).correlated
    assert (m1.start, m2.start, m3.start, m3.end) == (8, 17, 26, 81)


def test_side_by_side_shows_the_three_requests_with_the_region_marked():
    a, b, r = runs(xor_body)
    d = compare_runs(a, b, r)
    flows = {f.id: f for f in a + b + r}
    text = differential.side_by_side(d.correlated[0], flows)
    assert text.count(f"POST http://{HOST}{PATH}") == 3
    assert "run B (other canaries" in text and "run R (run A repeated)" in text
    assert "*" in text and "  00000020  " in text  # a hexdump: the body is not readable
    readable = runs(leaf_body, host="collector.example.net")
    d2 = compare_runs(*readable)
    text2 = differential.side_by_side(d2.correlated[0], {f.id: f for run in readable for f in run})
    assert "⟦" in text2 and "Zq7Xw2Pk9Lm4Rt8v"[:4] in text2


def test_render_text_and_to_dict():
    d = compare_runs(*runs(xor_body))
    text = differential.render_text(d)
    assert text.splitlines()[0].split() == ["KIND", "HOST", "REQUEST", "LOCATION", "BYTES", "READABLE"]
    assert "1 region(s) move with the canary, 0 change on every run (opaque), in 1 paired request(s)" in text
    doc = json.loads(json.dumps(d.to_dict()))
    assert set(doc) == {"correlated", "opaque", "unpaired", "pairs", "notes"}
    assert doc["correlated"][0]["kind"] == "correlated" and len(doc["correlated"][0]["flows"]) == 3


# --- telltale scan --differential -------------------------------------------------------

def captures(tmp_path, body, name: str = "c") -> list[str]:
    out = []
    for run, flows in zip("ABR", runs(body), strict=True):
        out.append(str(write_flows(tmp_path / f"{name}-{run}.mitm", flows + [http_flow("/ok")])))
    return out


def test_cli_exit_1_when_a_value_moves_with_the_canary(tmp_path, capsys):
    assert main(["scan", "--differential", *captures(tmp_path, xor_body)]) == 1
    out = capsys.readouterr().out
    assert "correlated  tracking.intl.miui.com  POST /c/v2/collect" in out


def test_cli_exit_0_for_the_clean_twin_and_for_an_entitled_host(tmp_path, capsys):
    clean = captures(tmp_path, lambda run: xor(payload("https://static.example.org/c", TS[run])), "clean")
    assert main(["scan", "--differential", *clean]) == 0
    assert main(["scan", "--differential", *captures(tmp_path, xor_body), "--entitled", "*.miui.com"]) == 0


def test_cli_exit_2_for_an_opaque_region_unless_a_policy_accepts_it(tmp_path, capsys):
    nonce = captures(tmp_path, lambda run: os.urandom(32) + xor(payload("https://s.example.org/", TS[run])))
    assert main(["scan", "--differential", *nonce, "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["correlated"] == [] and doc["errors"] == [] and doc["pairs"] == 2
    assert [o["accepted_by"] for o in doc["opaque"]] == [None]
    policy = tmp_path / "policy.yaml"
    policy.write_text("defaults:\n  accept_unexamined:\n    - name: miui-signed-telemetry\n"
                      "      hosts: ['*.miui.com']\n      kinds: [opaque]\n"
                      "      reason: the collector's payload is encrypted per request; reviewed by hand\n")
    assert main(["scan", "--differential", *nonce, "--policy", str(policy)]) == 0
    assert "accepted: opaque request.body of tracking.intl.miui.com: miui-signed-telemetry" in \
        capsys.readouterr().out


def test_cli_exit_2_for_a_damaged_or_empty_capture_naming_it(tmp_path, capsys):
    a, b, r = captures(tmp_path, xor_body)
    damaged = flip_length_digit(tmp_path / "c-B.mitm", tmp_path / "damaged.mitm", record=1)
    assert main(["scan", "--differential", a, str(damaged), r]) == 2
    out = capsys.readouterr().out
    assert f"error: {damaged}: record 1" in out and "nothing was compared" in out
    empty = tmp_path / "empty.mitm"
    empty.write_bytes(b"")
    assert main(["scan", "--differential", a, b, str(empty), "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == [f"{empty}: whole file: no flows in it: an empty capture is not a clean one"]
    assert doc["correlated"] == []


def test_cli_reads_har_captures(tmp_path, capsys):
    paths = [str(write_har(tmp_path / f"{run}.har", flows))
             for run, flows in zip("ABR", runs(leaf_body), strict=True)]
    assert main(["scan", "--differential", *paths, "--format", "json"]) == 1
    (m,) = json.loads(capsys.readouterr().out)["correlated"]
    assert m["flows"] == ["entry 0"] * 3 and m["location"] == "request.body json $.events[0].u"


@pytest.mark.parametrize("extra", [["--canary", "u=Zq7Xw2Pk9Lm4Rt8v"], ["more.mitm"]])
def test_cli_differential_takes_no_other_capture_or_canary(tmp_path, capsys, extra):
    assert main(["scan", "--differential", *captures(tmp_path, xor_body), *extra]) == 2
    assert "--differential takes its three captures" in capsys.readouterr().err


def test_cli_scan_without_any_capture_is_a_usage_error(capsys):
    assert main(["scan", "--canary", "u=Zq7Xw2Pk9Lm4Rt8v"]) == 2
    assert "give at least one CAPTURE" in capsys.readouterr().err


def test_form_fields_and_cookies_are_compared_one_by_one():
    def flow(run: str):
        token = canary_of(run)[11:27]
        return http_flow(PATH, f"ev=open&ts={TS[run]}&q={token}".encode(), host=HOST,
                         headers={"content-type": "application/x-www-form-urlencoded",
                                  "cookie": f"sid=abc; last={token}"})

    d = compare_runs(*([flow(run)] for run in "ABR"))
    assert {m.location for m in d.correlated} == {"request.body form q",
                                                  "request.header[cookie] cookie last"}
    assert d.opaque == ()


def test_dns_names_pair_by_their_labels_not_only_by_their_domain():
    """Lookups of two hosts of one domain, in another order in one run, are not compared with
    each other; a name whose labels carry a value still pairs with its counterparts."""
    from plant import dns_flow

    from telltale.detect.differential import Request, pair_key

    def key(name):
        return pair_key(Request.of_flow(dns_flow(name)))

    assert key("tracking.intl.miui.com") != key("sa.api.intl.miui.com")
    assert key("74742d6162636465.3.tracking.example.com") == key("74742d6661626364.4.tracking.example.com")
    a = [dns_flow("tracking.intl.miui.com"), dns_flow("sa.api.intl.miui.com")]
    b = [dns_flow("sa.api.intl.miui.com"), dns_flow("tracking.intl.miui.com")]
    r = [dns_flow("tracking.intl.miui.com"), dns_flow("sa.api.intl.miui.com")]
    d = compare_runs(a, b, r)
    assert d.correlated == () and d.pairs == 2
