"""One reader of Allure results: every command that judges a run reads a result the same way."""

import json
from pathlib import Path

import pytest

from telltale import diff, inventory, matrix, results, runfolder, selftest, verdicts

# A result only a careful reader gets right: a repeated label (the first device counts, every
# regulation counts), a value that is no string, entries of another shape, and its findings
# attached inside a step.
ODD = {
    "name": "Incognito browsing sends no URLs", "fullName": "browser/incognito.feature:Incognito",
    "status": "failed", "statusDetails": {"message": "leak: visited_url\nsecond line"},
    "labels": [{"name": "device", "value": "phone-b"}, {"name": "device", "value": "phone-c"},
               {"name": "requirement", "value": "BR-INC-001"}, "not a label", {"name": "severity"},
               {"name": "regulation", "value": "GDPR-Art.6"}, {"name": "regulation", "value": "DPDP-Sec.6"},
               {"name": "selftest", "value": "must-fail"}, {"name": "window", "value": 7}],
    "parameters": [{"name": "device", "value": "'phone-b'"}, {"name": "mode", "value": "incognito"}, 3],
    "attachments": [{"name": "findings", "source": "t-attachment.txt"}],
    "steps": [{"name": "Then no other host received the visited URL", "steps": [
        {"attachments": [{"name": "findings.json", "source": "f-attachment.json"}, {"source": "x"}]}]}],
}
FINDING = {"canary": "visited_url", "host": "tracking.intl.miui.com", "server_ip": "47.241.10.20",
           "location": "request.body base64 > json $.url", "chain": ["base64", "json"], "excerpt": "«u»"}


def _run(tmp_path: Path, *raw: object) -> Path:
    folder = tmp_path / "run" / "allure-results"
    folder.mkdir(parents=True)
    (folder / "environment.properties").write_text(
        "# written by the suite\ndevice=phone-a\nfirmware=V14\nboundary.phone-b=sealed: a namespace\n")
    for i, r in enumerate(raw):
        (folder / f"{i}-result.json").write_text(r if isinstance(r, str) else json.dumps(r))
    (folder / "f-attachment.json").write_text(json.dumps([FINDING]))
    return folder.parent


def test_a_result_is_read_with_its_labels_parameters_and_nested_attachments(tmp_path):
    (r,) = results.read_results(_run(tmp_path, ODD) / "allure-results")
    assert (r.name, r.full_name, r.status) == (ODD["name"], ODD["fullName"], "failed")
    assert r.message == "leak: visited_url\nsecond line"
    assert r.labels["device"] == ("phone-b", "phone-c") and r.label("device") == "phone-b"
    assert r.labels["regulation"] == ("GDPR-Art.6", "DPDP-Sec.6")
    assert r.label("window") == "7" and "severity" not in r.labels
    assert r.label("owner") is None and r.label("owner", "-") == "-"
    assert dict(r.parameters) == {"device": "'phone-b'", "mode": "incognito"}
    assert dict(r.attachments) == {"findings": ("t-attachment.txt",), "findings.json": ("f-attachment.json",)}
    assert r.attachment_json("f-attachment.json") == [FINDING]
    assert r.raw == ODD


def test_missing_fields_have_one_meaning(tmp_path):
    r = results.parse({"status": ""}, tmp_path / "x-result.json")
    assert (r.name, r.full_name, r.status, r.message) == (None, None, "unknown", "")
    assert not r.labels and not r.parameters and not r.attachments
    r = results.parse({"name": 5, "labels": None, "steps": "?", "statusDetails": None, "status": 7}, r.path)
    assert (r.name, r.status, dict(r.labels)) == (None, "unknown", {})


@pytest.mark.parametrize("content, message", [
    ("{not json", "unreadable result: "),
    ('["a list"]', "not an Allure result (a JSON object is expected)"),
    (b"\xff\xfe{}", "not UTF-8 text (byte 0)"),
])
def test_an_unreadable_result_is_named_not_a_crash(tmp_path, content, message):
    run = _run(tmp_path, ODD)
    bad = run / "allure-results" / "9-result.json"
    bad.write_bytes(content) if isinstance(content, bytes) else bad.write_text(content)
    with pytest.raises(results.UnreadableResult) as e:
        results.read_results(run / "allure-results")
    assert str(e.value).startswith(f"{bad}: {message}") and e.value.path == bad
    unreadable: list = []
    assert [r.name for r in results.read_results(run / "allure-results", unreadable)] == [ODD["name"]]
    assert [u.path for u in unreadable] == [bad]
    assert runfolder.statuses(run / "allure-results") == {"failed": 1, "unreadable": 1}


def test_environment_properties(tmp_path):
    folder = _run(tmp_path) / "allure-results"
    assert results.environment(folder) == {"device": "phone-a", "firmware": "V14",
                                           "boundary.phone-b": "sealed: a namespace"}
    assert results.environment(tmp_path) == {}
    (tmp_path / "environment.properties").write_bytes(b"device=\xff\n")
    with pytest.raises(results.UnreadableResult, match="environment.properties: not UTF-8"):
        results.environment(tmp_path)


def test_runs_diff_matrix_verdicts_and_selftest_read_through_the_reader(tmp_path, monkeypatch):
    """The same odd result means the same everywhere, and each of them reads it by the reader."""
    run = _run(tmp_path, ODD, {"name": "Other", "status": "passed"})
    folder = run / "allure-results"
    read: list[Path] = []
    real = results.read_result

    def spy(path: Path) -> results.Result:
        read.append(path)
        return real(path)

    monkeypatch.setattr(results, "read_result", spy)
    files = sorted(folder.glob("*-result.json"))

    def through_the_reader():
        assert read == files
        read.clear()

    assert runfolder.statuses(folder) == {"failed": 1, "passed": 1}
    through_the_reader()
    loaded = diff.load(run)
    through_the_reader()
    key = (ODD["fullName"], (("mode", "incognito"),), "phone-b")
    assert loaded[key] == ("BR-INC-001", ODD["name"], "failed")
    cells = {c.scenario: c for c in matrix.cells(run)}
    through_the_reader()
    c = cells[ODD["name"]]
    assert (c.requirement, c.device, c.firmware, c.verdict) == ("BR-INC-001", "phone-b", "V14", "failed")
    assert (c.regulations, c.boundary) == ("DPDP-Sec.6 GDPR-Art.6", "sealed: a namespace")
    assert cells["Other"].device == "phone-a"
    assert list(verdicts.results_by_window(folder, "phone-b")) == ["7"]
    through_the_reader()
    assert verdicts.results_by_window(folder, "phone-c") == {}
    read.clear()
    rows = selftest.check(results.read_results(folder), {"tracking.intl.miui.com"})
    through_the_reader()
    assert [(e.scenario, e.requirement, e.ok) for e in rows] == [(ODD["name"], "BR-INC-001", True),
                                                                 ("Other", "-", True)]
    assert "request.body base64 > json $.url" in rows[0].caught_by


def test_the_sweep_rewrites_a_result_it_read_by_the_reader(tmp_path):
    folder = _run(tmp_path, ODD) / "allure-results"
    assert verdicts.apply(folder, [], {"7": "5 s"}, device="phone-b") == []
    (r,) = results.read_results(folder)
    assert r.parameters["observed after the action"] == "5 s"
    assert r.labels == results.parse(ODD, r.path).labels and r.status == "failed"


DEVICES = """devices:
  b64: {platform: chromium, appium: local, telemetry_agent: {encoding: base64}}
  gz: {platform: chromium, appium: local, telemetry_agent: {encoding: gzip+base64}}
  plain: {platform: chromium, appium: local, telemetry_agent: {encoding: json}}
  dns: {platform: chromium, appium: local, telemetry_agent: {encoding: gzip+base64, transport: dns}}
"""


@pytest.mark.parametrize("device, chain, caught", [
    ("b64", ["base64", "json"], True),
    ("b64", ["json"], False),
    ("gz", ["base64", "json"], False),
    ("gz", ["base64", "gzip", "json"], True),
    ("plain", ["json"], True),
    ("dns", ["hex"], True),
    ("dns", ["base64", "gzip", "json"], False),
])
def test_selftest_expects_the_decoding_of_the_agents_configured_encoding(tmp_path, device, chain, caught):
    dev = inventory.parse(DEVICES).devices[device]
    folder = _run(tmp_path, ODD) / "allure-results"
    (folder / "f-attachment.json").write_text(json.dumps([{**FINDING, "chain": chain}]))
    (row,) = selftest.check(results.read_results(folder), selftest.agent_hosts(dev),
                            selftest.decoding_steps(dev), selftest.traits(dev))
    assert row.ok is caught, row
    if not caught:
        assert f"with {' and '.join(selftest.decoding_steps(dev))} in its decoding chain" in row.caught_by


def test_attachments_of_steps_nested_deeper_than_python_recurses(tmp_path):
    node: dict = {"attachments": [{"name": "deep", "source": "d.txt"}]}
    for _ in range(2000):
        node = {"steps": [node]}
    r = results.parse({"name": "n", **node, "attachments": [{"name": "top", "source": "t.txt"}]},
                      tmp_path / "n-result.json")
    assert dict(r.attachments) == {"top": ("t.txt",), "deep": ("d.txt",)}
    f = tmp_path / "deep-result.json"
    f.write_text('{"steps": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(results.UnreadableResult, match="deep-result.json: unreadable result"):
        results.read_result(f)
