"""`telltale selftest`: does this lab catch a leaking firmware?

It runs the requirements on the leaky reference build and checks every
expectation: a scenario whose requirement reference/must_fail.yaml lists (`always`, or for
the reference devices whose agent has one of the traits listed: its transport, `batched`,
`heartbeat`) must be *failed* (not
broken: broken would mean the lab could not see, not that it caught) with a
finding that names a host the reference agent sends to and, in its decoding chain,
the steps that undo the agent's configured encoding (base64; base64 and gzip; none
for plain json; hex for data in DNS names), or for a destination requirement a
violation at that host, with its server's country; every other scenario must pass
or be skipped. Run it after setting up capture, before trusting a clean report.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from telltale import inventory, paths, results, runfolder, tables
from telltale.errors import TelltaleError
from telltale.reference import expectations
from telltale.results import Result


@dataclass(frozen=True)
class Expectation:
    scenario: str
    requirement: str
    expected: str          # "failed" or "passed/skipped"
    actual: str
    caught_by: str         # the finding that proves it, or why not
    ok: bool


def findings_of(result: Result) -> list[dict]:
    """The leak findings (canary, host, location, chain) attached to a scenario."""
    out: list[dict] = []
    for source in result.sources("findings.json"):
        out += result.attachment_json(source)
    return out


def destination_findings_of(result: Result) -> list[dict]:
    """The destination findings (rule, verdict, host, IP, country, list) attached to a scenario."""
    out: list[dict] = []
    for name, sources in result.attachments.items():
        if name.startswith("destinations-") and name.endswith(".json"):
            for source in sources:
                out += result.attachment_json(source)
    return out


# What undoes each encoding of the reference agent's payloads, as the detector's chain names it.
# Plain json needs none: what it carries is there as sent.
# Nothing undoes xor with a key baked into the build: only the differential run sees through it.
ENCODING_STEPS = {"base64": ("base64",), "gzip+base64": ("base64", "gzip"), "json": (),
                  "xor": ("differential",)}
DNS_STEPS = ("hex",)  # query names carry the data as hex labels, whatever the payload encoding


def decoding_steps(dev: inventory.Device) -> tuple[str, ...]:
    """The steps a finding of this device's agent must show: proof the detector undid its encoding."""
    agent = dev.telemetry_agent
    assert agent is not None
    return DNS_STEPS if agent.transport == "dns" else ENCODING_STEPS[agent.encoding]


def _at(host: str | None, agent_hosts: set[str]) -> bool:
    """The host is one of the agent's, or a name under one (a DNS query carries data in labels)."""
    host = (host or "").lower()
    return any(host == h or host.endswith("." + h) for h in agent_hosts)


def _shows(finding: dict, steps: Sequence[str]) -> bool:
    """Every step is in the finding's decoding chain (its location names it where no chain is kept)."""
    chain = finding.get("chain")
    if isinstance(chain, list):
        return all(step in chain for step in steps)
    return all(step in str(finding.get("location", "")) for step in steps)


def _proof(result: Result, agent_hosts: set[str], steps: Sequence[str]) -> str | None:
    for f in findings_of(result):
        if _at(f.get("host"), agent_hosts) and _shows(f, steps):
            return f.get("late") or f"{f['canary']} at {f['host']}: {f['location']}"
    for f in destination_findings_of(result):
        if _at(f.get("host"), agent_hosts) and f.get("verdict") == "violation":
            return f"{f['rule']}: {f['host']} ({f['ip']}, {f['country']}): {f['matched']}"
    return None


def traits(dev: inventory.Device) -> set[str]:
    """What a reference device's agent does, as reference/must_fail.yaml names it."""
    agent = dev.telemetry_agent
    assert agent is not None
    return {agent.transport, agent.encoding} | ({"batched"} if agent.batch else set()) | (
        {"heartbeat"} if agent.heartbeat else set())


def check(read: Iterable[Result], agent_hosts: set[str], steps: Sequence[str] = ENCODING_STEPS["base64"],
          device_traits: Iterable[str] = ("proxy",)) -> list[Expectation]:
    """Pure judgement of one leaky device's Allure results (its agent has `device_traits`, and
    its findings must show the decoding `steps`)."""
    device_traits = tuple(device_traits)
    need = f" with {' and '.join(steps)} in its decoding chain" if steps else ""
    out = []
    for r in sorted(read, key=lambda r: r.name or ""):
        name = r.name if r.name is not None else "?"
        req = ",".join(r.labels.get("requirement", ())) or "-"
        if expectations.must_fail(r.labels.get("requirement", ()), device_traits):
            proof = _proof(r, agent_hosts, steps)
            ok = r.status == "failed" and proof is not None
            why = proof or f"no finding at {', '.join(sorted(agent_hosts))}{need}, or a destination violation"
            out.append(Expectation(name, req, "failed", r.status, why, ok))
        else:
            ok = r.status in ("passed", "skipped")
            first = r.message.splitlines()[0] if r.message else ""
            out.append(Expectation(name, req, "passed/skipped", r.status, first, ok))
    return out


def table(rows: list[Expectation]) -> str:
    """One row a scenario; under it, the finding that proves it (or why not)."""
    return tables.table(
        ("ok", "requirement", "expected", "actual", "scenario / evidence"),
        [("yes" if e.ok else "NO", e.requirement, e.expected, e.actual, f"{e.scenario}\n{e.caught_by}")
         for e in rows],
        widths=(4, 12, 15, 8), sep=" ")


def agent_hosts(dev: inventory.Device) -> set[str]:
    """Where the reference agent sends: its hosts, and their servers' addresses (raw UDP has no name)."""
    agent = dev.telemetry_agent
    assert agent is not None
    hosts = {urlsplit(str(u)).hostname or "" for u in (agent.pages_url, agent.usage_url)}
    return hosts | {str(ip) for h, ip in dev.proxy.hosts.items() if h in hosts}


def _of_device(read: list[Result], name: str, only: bool) -> list[Result]:
    return [r for r in read if name in r.labels.get("device", ()) or (only and "device" not in r.labels)]


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
    args.run_id = args.run_id or f"{runfolder.new_run_id()}-selftest"
    code = runner.run(args, pytest_args)
    reports = Path(args.reports) if args.reports else lay.reports
    read = results.read_results(reports / args.run_id / "allure-results")
    bad_total, ran = 0, 0
    for dev in devs:
        rows = check(_of_device(read, dev.name, len(devs) == 1), agent_hosts(dev), decoding_steps(dev),
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
