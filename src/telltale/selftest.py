"""`telltale selftest`: does this lab catch a leaking firmware?

It runs the requirements on the leaky reference build and checks every
expectation: a scenario tagged ``@selftest:must-fail`` (or ``@selftest:must-fail-<transport>``
for the reference devices whose agent has that trait: its transport, `batched`, `heartbeat`)
must be *failed* (not
broken: broken would mean the lab could not see, not that it caught) with a
finding that names a host the reference agent sends to and a base64 step in
its decoding chain (for a destination requirement: a violation at that host,
with its server's country); every other scenario must pass or be skipped. Run it after
setting up capture, before trusting a clean report.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from telltale import inventory, paths, runs
from telltale.errors import TelltaleError


@dataclass(frozen=True)
class Expectation:
    scenario: str
    requirement: str
    expected: str          # "failed" or "passed/skipped"
    actual: str
    caught_by: str         # the finding that proves it, or why not
    ok: bool


def _labels(result: dict, name: str) -> list[str]:
    return [lab["value"] for lab in result.get("labels", []) if lab["name"] == name]


def _attachments(node: dict, name: str, prefix: bool = False) -> Iterable[str]:
    for a in node.get("attachments", []):
        if a["name"] == name or (prefix and a["name"].startswith(name) and a["name"].endswith(".json")):
            yield a["source"]
    for step in node.get("steps", []):
        yield from _attachments(step, name, prefix)


def findings_of(result: dict, results_dir: Path) -> list[dict]:
    """The leak findings (canary, host, location, chain) attached to a scenario."""
    out: list[dict] = []
    for source in _attachments(result, "findings.json"):
        out += json.loads((results_dir / source).read_text())
    return out


def destination_findings_of(result: dict, results_dir: Path) -> list[dict]:
    """The destination findings (rule, verdict, host, IP, country, list) attached to a scenario."""
    out: list[dict] = []
    for source in _attachments(result, "destinations-", prefix=True):
        out += json.loads((results_dir / source).read_text())
    return out


DECODING_STEPS = ("base64", "hex")  # the reference agent encodes (base64 payloads, hex DNS labels)


def _at(host: str | None, agent_hosts: set[str]) -> bool:
    """The host is one of the agent's, or a name under one (a DNS query carries data in labels)."""
    host = (host or "").lower()
    return any(host == h or host.endswith("." + h) for h in agent_hosts)


def _proof(result: dict, results_dir: Path, agent_hosts: set[str]) -> str | None:
    for f in findings_of(result, results_dir):
        if _at(f.get("host"), agent_hosts) and any(step in f.get("location", "") for step in DECODING_STEPS):
            return f.get("late") or f"{f['canary']} at {f['host']}: {f['location']}"
    for f in destination_findings_of(result, results_dir):
        if _at(f.get("host"), agent_hosts) and f.get("verdict") == "violation":
            return f"{f['rule']}: {f['host']} ({f['ip']}, {f['country']}): {f['matched']}"
    return None


def traits(dev: inventory.Device) -> set[str]:
    """What a reference device's agent does, as `@selftest:must-fail-<trait>` tags name it."""
    agent = dev.telemetry_agent
    assert agent is not None
    return {agent.transport} | ({"batched"} if agent.batch else set()) | (
        {"heartbeat"} if agent.heartbeat else set())


def check(results: Iterable[dict], results_dir: Path, agent_hosts: set[str],
          device_traits: Iterable[str] = ("proxy",)) -> list[Expectation]:
    """Pure judgement of one leaky device's Allure results (its agent has `device_traits`)."""
    must = {"must-fail"} | {f"must-fail-{t}" for t in device_traits}
    out = []
    for r in sorted(results, key=lambda r: r.get("name", "")):
        name, status = r.get("name", "?"), r.get("status", "unknown")
        req = ",".join(_labels(r, "requirement")) or "-"
        if must & set(_labels(r, "selftest")):
            proof = _proof(r, results_dir, agent_hosts)
            ok = status == "failed" and proof is not None
            why = proof or (f"no finding at {', '.join(sorted(agent_hosts))} with a base64 or hex "
                            "step, or a destination violation")
            out.append(Expectation(name, req, "failed", status, why, ok))
        else:
            ok = status in ("passed", "skipped")
            msg = (r.get("statusDetails") or {}).get("message", "")
            first = msg.splitlines()[0] if msg else ""
            out.append(Expectation(name, req, "passed/skipped", status, first, ok))
    return out


def table(rows: list[Expectation]) -> str:
    lines = [f"{'ok':4} {'requirement':12} {'expected':15} {'actual':8} scenario / evidence"]
    for e in rows:
        lines.append(f"{'yes' if e.ok else 'NO':4} {e.requirement:12} {e.expected:15} {e.actual:8} "
                     f"{e.scenario}\n{'':42}{e.caught_by}")
    return "\n".join(lines)


def agent_hosts(dev: inventory.Device) -> set[str]:
    """Where the reference agent sends: its hosts, and their servers' addresses (raw UDP has no name)."""
    agent = dev.telemetry_agent
    assert agent is not None
    hosts = {urlsplit(str(u)).hostname or "" for u in (agent.pages_url, agent.usage_url)}
    return hosts | {str(ip) for h, ip in dev.proxy.hosts.items() if h in hosts}


def _of_device(results: list[dict], name: str, only: bool) -> list[dict]:
    return [r for r in results if name in _labels(r, "device") or (only and not _labels(r, "device"))]


def run(args: argparse.Namespace, pytest_args: list[str]) -> int:
    from telltale import runner

    lay = paths.layout()
    inv_file = args.devices_file or str(lay.devices)
    inv = inventory.load(inv_file)
    devs = inventory.select(inv, args.device or ([] if args.devices else ["local-chromium-leaky"]),
                            args.devices, inv_file)
    for dev in devs:
        if dev.telemetry_agent is None:
            raise TelltaleError(f"{inv_file}: device {dev.name} has no telemetry_agent: "
                                "selftest needs the leaky reference build")
    args.device, args.devices = [d.name for d in devs], None
    args.no_report = getattr(args, "no_report", False)
    args.signing_key = None
    args.no_redact, args.suite = False, None
    args.run_id = args.run_id or f"{runs.new_run_id()}-selftest"
    code = runner.run(args, pytest_args)
    reports = Path(args.reports) if args.reports else lay.reports
    results_dir = reports / args.run_id / "allure-results"
    results = [json.loads(p.read_text()) for p in results_dir.glob("*-result.json")]
    bad_total, ran = 0, 0
    for dev in devs:
        rows = check(_of_device(results, dev.name, len(devs) == 1), results_dir, agent_hosts(dev),
                     traits(dev))
        ran += len(rows)
        print(f"\n== {dev.name} ({dev.firmware}); boundary: {dev.boundary_text}")
        print(table(rows))
        caught = sum(e.ok for e in rows if e.expected == "failed")
        expected = sum(e.expected == "failed" for e in rows)
        bad = [e for e in rows if not e.ok]
        bad_total += len(bad) + (0 if rows else 1)
        print(f"selftest: {caught} of {expected} expected failures caught on {dev.name}; "
              f"{len(bad)} expectation(s) not met" + ("" if rows else "; no scenario ran"))
    if code in (130, 143):  # the run was interrupted (SIGINT, SIGTERM): say so, not a verdict
        return code
    if not ran:  # not a pass, and not a lab that missed a leak either: nothing was judged
        print("selftest: no scenario ran: that is not a pass (could not judge)")
        return 2
    if code not in (0, 1):  # 1: requirements failed, as they must here
        print(f"selftest: the run itself ended with exit code {code}")
        if not bad_total:  # what ran held, but the run broke: no verdict on the lab
            return 2
    return 1 if bad_total else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("selftest", help="run the requirements on the leaky reference build and "
                       "check that every expected failure is caught")
    p.add_argument("--device", action="append", default=None,
                   help="a leaky reference device, repeatable (default local-chromium-leaky)")
    p.add_argument("--devices", default=None, metavar="GROUP",
                   help="every device of a group (e.g. reference: each way the reference build leaks)")
    p.add_argument("--devices-file", default=None)
    p.add_argument("--reports", default=None, help="folder of run folders (default reports/)")
    p.add_argument("--run-id", default=None)
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.set_defaults(func=None, _runner="selftest")
