"""The destination steps through pytest-bdd and Allure, as a run reports them."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.helpers import results, run_suite

SUITES = Path(__file__).parent / "suites"


def test_each_step_gives_the_verdict_it_should(ready, tmp_path):
    proc = run_suite(SUITES / "destinations_suite.py", tmp_path,
                     f"--devices-file={SUITES / 'devices.yaml'}", "--device=probe")
    res = results(tmp_path)
    status = {name: r.status for name, r in res.items()}
    assert status == {
        "A pinning client leaves traffic unexamined": "broken",
        "A pinning client the policy accepts by name": "passed",
        "Telemetry to a known tracker": "failed",
        "Telemetry to a server in Singapore": "failed",
        "A server whose country cannot be known": "broken",
        "Clear text": "failed",
        "A clean window": "passed",
        "A host outside the allowlist": "failed",
    }, proc.stdout[-3000:] + proc.stderr[-2000:]
    tracker = res["Telemetry to a known tracker"].message
    assert "tracking.intl.miui.com" in tracker and "47.241.10.20" in tracker and "SG" in tracker
    assert "tracking.*.miui.com" in tracker
    def message(name: str) -> str:
        return res[name].message

    singapore = message("Telemetry to a server in Singapore")
    assert "Singapore, sources disagree: SG (dbip-country-lite 2026-" in singapore
    assert "US (geo-whois-asn-country 2026-" in singapore and "nro.net" in singapore
    assert "pinned.example.org" in message("A pinning client leaves traffic unexamined")
    attached = res["A clean window"].attachments
    assert "destinations: trackers" in attached and "destinations: unexamined" in attached
