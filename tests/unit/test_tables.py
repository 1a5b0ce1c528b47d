"""One text-table renderer: its layout, and the commands' tables it draws, byte for byte."""

from telltale import evidence, selftest
from telltale.detect.cli import render_text
from telltale.detect.model import Finding, ScanResult
from telltale.tables import cut, table


def test_columns_fit_their_widest_cell_and_the_last_is_not_padded():
    out = table(("a", "long header", "z"), [("xyz", "1", "tail"), ("q", "22", "")])
    assert out.split("\n") == ["a    long header  z",
                               "xyz  1            tail",
                               "q    22"]  # no trailing blanks


def test_minimum_widths_right_alignment_separator_indent_and_no_header():
    out = table(None, [("R1", "failed", "->", "passed"), ("R-long-id", "x", "->", "y")],
                widths=(4, 8), right={1}, sep=" ", indent="  ")
    assert out.split("\n") == ["  R1          failed -> passed",
                               "  R-long-id        x -> y"]


def test_a_rule_under_the_header_and_a_cell_over_several_lines():
    out = table(("k", "v"), [("a", "one\ntwo"), ("bb", "three")], rule=True)
    assert out.split("\n") == ["k   v", "--  -----", "a   one", "    two", "bb  three"]
    assert table(None, []) == "" and table(("h",), []) == "h"


def test_cut_marks_what_it_cut():
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdefg", 6) == "abcde…"
    assert cut("abcdefg", 3, mark="") == "abc"
    assert cut("abcdefg", 0) == ""


# The commands' tables, as they were before the renderer was shared.

FINDINGS = [{"canary": "visited_url", "host": "tracking.intl.miui.com", "server_ip": "47.241.10.20",
             "location": "request.body base64 > json $.url", "excerpt": "x" * 70, "flow": "f1"},
            {"canary": "imei", "host": "sa.api.intl.miui.com", "server_ip": None,
             "location": "request.body base64 > json $.device.imei", "excerpt": "«867530900000001»",
             "flow": None}]


def test_findings_attachment_table():
    assert evidence.findings_table(FINDINGS) == (
        "canary       host                    server_ip     location                                  "
        "excerpt                                                       flow\n"
        "-----------  ----------------------  ------------  ----------------------------------------  "
        "------------------------------------------------------------  ----\n"
        "visited_url  tracking.intl.miui.com  47.241.10.20  request.body base64 > json $.url          "
        + "x" * 60 + "  f1\n"
        "imei         sa.api.intl.miui.com                  request.body base64 > json $.device.imei  "
        "«867530900000001»\n")


def test_scan_table():
    result = ScanResult(findings=(
        Finding("0123456789abcdef", "tracking.intl.miui.com", "47.241.10.20", "visited_url",
                "request.body base64 > json $.url", ("base64", "json"), '…{"url":"«https://tt-1.example/»"}'),
        Finding("f2", "h" * 40, None, "imei", "dns.question[0] hex", ("hex",), "«3836»")), flows_scanned=4)
    assert render_text(result).split("\n") == [
        "FLOW      CANARY       HOST                            LOCATION                          "
        "CHAIN          EXCERPT",
        "01234567  visited_url  tracking.intl.miui.com          request.body base64 > json $.url  "
        'base64 > json  …{"url":"«https://tt-1.example/»"}',
        "f2        imei         " + "h" * 29 + "…  dns.question[0] hex               hex            «3836»",
        "2 finding(s) in 4 flow(s) scanned"]


def test_selftest_table_puts_the_evidence_under_the_scenario():
    rows = [selftest.Expectation("Incognito browsing sends no URLs", "BR-INC-001", "failed", "failed",
                                 "visited_url at tracking.intl.miui.com", True),
            selftest.Expectation("An idle device contacts only allowlisted hosts", "IDLE-DST-001",
                                 "passed/skipped", "broken", "", False)]
    assert selftest.table(rows).split("\n") == [
        "ok   requirement  expected        actual   scenario / evidence",
        "yes  BR-INC-001   failed          failed   Incognito browsing sends no URLs",
        " " * 43 + "visited_url at tracking.intl.miui.com",
        "NO   IDLE-DST-001 passed/skipped  broken   An idle device contacts only allowlisted hosts",
        ""]
