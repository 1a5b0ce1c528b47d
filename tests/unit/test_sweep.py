"""The run-wide sweep: a canary that leaves after its window closed fails its own scenario, and
no other; a leak in the drain is caught; an identifier anywhere fails the identifier checks; the
final verdict is written into the result, with how long the device was watched."""

import base64
import json

from mitmproxy import http
from mitmproxy.test import tflow

from telltale import judge, sweep, verdicts
from telltale.capture import store

T0 = 1_800_000_000.0
URL_A = "https://tt-aaaaaaaaaa.example.net/read/0000000001"
URL_B = "https://tt-bbbbbbbbbb.example.net/read/0000000002"
IDS = {"imei": "867530900000001"}


def _post(host: str, body: bytes, window: str | None, at: float):
    f = tflow.tflow(resp=True)
    f.request = http.Request.make("POST", f"https://{host}/c", body)
    f.request.timestamp_start = at
    f.metadata[store.WINDOW_KEY] = window
    return f


def _exp(window: str, url: str, at: float, identifiers: bool = False) -> sweep.Expectation:
    host = url.split("/")[2] if url else ""
    values = {} if identifiers else {"visited_url": url, "visited_site": host}
    allowed = judge.nobody if identifiers else judge.same_host(host)
    return sweep.Expectation(window, f"scenario {window}", values, allowed, identifiers, at, at - 1, at + 1)


EXPECT = [_exp("wA", URL_A, T0), _exp("wB", URL_B, T0 + 10), _exp("wI", "", T0 + 20, identifiers=True)]


def _b64(d: dict) -> bytes:
    return base64.b64encode(json.dumps(d).encode())


def test_a_leak_30_s_after_its_window_fails_its_own_scenario_and_no_other():
    flows = [
        _post("tt-aaaaaaaaaa.example.net", URL_A.encode(), "wA", T0),  # the visit itself: entitled
        _post("tracking.intl.miui.com", _b64({"url": URL_A}), "wB", T0 + 30),  # batched, during B
    ]
    late = sweep.sweep(flows, EXPECT, IDS)
    assert {(leak.window, leak.canary) for leak in late} == {("wA", "visited_url"), ("wA", "visited_site")}
    msg = next(leak for leak in late if leak.canary == "visited_url").message()
    assert msg.startswith("late leak: the visited URL of this scenario reached tracking.intl.miui.com 30 s")
    assert 'during scenario "scenario wB"' in msg and "base64" in msg


def test_the_clean_twin_gives_nothing_and_the_own_window_is_left_to_the_window_check():
    flows = [_post("tt-aaaaaaaaaa.example.net", URL_A.encode(), "gap-after:wA", T0 + 5),
             _post("tracking.intl.miui.com", _b64({"url": URL_A}), "wA", T0 + 0.2),
             _post("tracking.intl.miui.com", _b64({"n": 1}), "drain-dev", T0 + 60)]
    assert sweep.sweep(flows, EXPECT, IDS) == ()


def test_a_leak_during_the_drain_is_caught_with_its_delay():
    late = sweep.sweep([_post("tracking.intl.miui.com", _b64({"url": URL_B}), "drain-dev", T0 + 53)],
                       EXPECT, IDS)
    (leak,) = [x for x in late if x.canary == "visited_url"]
    assert leak.window == "wB" and leak.delay == 43.0
    assert "during the drain after the last scenario" in leak.message()


def test_an_identifier_seen_anywhere_fails_the_identifier_requirement():
    late = sweep.sweep([_post("sa.api.intl.miui.com", _b64({"device": IDS}), "idle-dev", T0 + 99)],
                       EXPECT, IDS)
    assert [(x.window, x.canary, x.seen_in) for x in late] == [("wI", "imei", "the idle soak")]
    # in another scenario's own window too: identifiers are constant, whoever's window it was
    late = sweep.sweep([_post("sa.api.intl.miui.com", _b64({"device": IDS}), "wA", T0)], EXPECT, IDS)
    assert [(x.window, x.canary) for x in late] == [("wI", "imei")]


def test_the_ledger_is_kept_as_json_lines_and_read_back(tmp_path):
    led = sweep.Ledger(tmp_path / "dev-expectations.jsonl")
    for e in EXPECT:
        led.add(e)
    again = sweep.Ledger.read(led.path).expectations
    assert again == EXPECT and again[0].entitled("tt-aaaaaaaaaa.example.net")


def _result(tmp_path, name: str, window: str, status: str) -> None:
    r = {"name": name, "status": status, "labels": [{"name": "window", "value": window}],
         "statusDetails": {"message": "window check"} if status != "passed" else {}}
    (tmp_path / f"{name}-result.json").write_text(json.dumps(r))


def test_final_verdicts_replace_the_provisional_ones_in_the_results(tmp_path):
    _result(tmp_path, "a", "wA", "passed")
    _result(tmp_path, "b", "wB", "passed")
    _result(tmp_path, "s", "wS", "skipped")
    late = sweep.sweep([_post("tracking.intl.miui.com", _b64({"url": URL_A}), "drain-dev", T0 + 43)],
                       EXPECT, IDS)
    observed = {"wA": "50 s (its window, the rest of the run and a drain of 5 s)", "wB": "40 s"}
    failed = verdicts.apply(tmp_path, late, observed, {"wA": "POST ..."})
    assert failed == ["a"]
    a = json.loads((tmp_path / "a-result.json").read_text())
    b = json.loads((tmp_path / "b-result.json").read_text())
    assert a["status"] == "failed" and a["statusDetails"]["message"].startswith("late leak: the visited URL")
    assert b["status"] == "passed"
    assert {p["name"]: p["value"] for p in a["parameters"]}["observed after the action"].startswith("50 s")
    names = [x["name"] for x in a["attachments"]]
    assert names == ["findings.json", "late leaks (decoded requests)"]
    rows = json.loads((tmp_path / a["attachments"][0]["source"]).read_text())
    assert rows[0]["host"] == "tracking.intl.miui.com" and rows[0]["late"].startswith("late leak")
    assert json.loads((tmp_path / "s-result.json").read_text())["status"] == "skipped"
