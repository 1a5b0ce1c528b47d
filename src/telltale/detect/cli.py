"""`telltale scan CAPTURE...`: the detector on capture files, for a person or a pipeline.

Exit 0: nothing found; 1: findings; 2: could not judge: a file, record or HAR entry
could not be read, or a capture held no flow (each is named; the rest was still
scanned and its findings reported). Nothing read is never "nothing found".

`telltale scan --differential RUN_A RUN_B RUN_REPEAT`: three captures of the same actions
(canary set A, a set B of the same lengths, A again) compared request by request
(`telltale.detect.differential`): what moves with the canary is a leak no decoder could
read. Exit 1: a value moves with the canary to a host not --entitled to it; else 2: a
region changes on every run and no --policy acceptance of kind `opaque` names its host,
or a capture could not be read in full (the pairing needs every request: nothing is
compared); else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import urlsplit

from telltale.detect.model import Canary, ScanResult
from telltale.detect.scan import scan_files
from telltale.errors import CaptureFileError
from telltale.tables import cut, table


def _canary(kind: str):
    def parse(spec: str) -> Canary:
        try:
            return Canary.parse(spec, kind)  # type: ignore[arg-type]
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from e
    parse.__name__ = kind
    return parse


def render_text(result: ScanResult) -> str:
    """A table a person reads: one finding a line, then errors and truncation notes."""
    lines = []
    if result.findings:
        rows = []
        for f in result.findings:
            flow = str(f.flow)
            rows.append((flow[:8] if len(flow) > 12 else flow, f.canary, cut(f.host, 30),
                         cut(f.location, 60), " > ".join(f.chain) or "plain", cut(f.excerpt, 70)))
        lines.append(table(("FLOW", "CANARY", "HOST", "LOCATION", "CHAIN", "EXCERPT"), rows))
    lines.append(f"{len(result.findings)} finding(s) in {result.flows_scanned} flow(s) scanned")
    for e in result.errors:
        lines.append(f"error: {e}")
    for t in result.truncated:
        lines.append(f"truncated: {t}")
    return "\n".join(lines)


def exit_code(result: ScanResult) -> int:
    if result.errors:
        return 2
    return 1 if result.findings else 0


def _place(e: str | CaptureFileError) -> object:
    """Where an error is (file, record): both readers word the same damage differently."""
    return (e.path, e.where) if isinstance(e, CaptureFileError) else str(e)


def _unique(errors: list[CaptureFileError], seen: tuple[str | CaptureFileError, ...]) -> list[str]:
    """`errors` at a place (file and record or entry) not in `seen`: damage both scans met is
    named once."""
    known = {_place(e) for e in seen}
    out: dict[str, None] = {}
    for e in errors:
        if _place(e) not in known:
            out[str(e)] = None
    return list(out)


def _print_json(result: ScanResult, policy: bool, dest: list, dest_errors: list[str]) -> None:
    out = result.to_dict()
    if policy:
        out["destinations"] = [f.to_dict() for f in dest]
        out["errors"] += dest_errors
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _print_text(result: ScanResult, canaries: bool, policy: str | None, dest: list,
                dest_errors: list[str]) -> None:
    if canaries:
        print(render_text(result))
    if policy:
        from telltale.destinations import rules

        print(f"\ndestinations ({policy}): {len(dest)} finding(s)")
        if dest:
            print(rules.table(dest))
        for e in dest_errors:
            print(f"error: {e}")
    n = len(result.errors) + len(dest_errors)
    if n:
        print(f"scan: could not judge: {n} error(s) above; the findings are of what could be read")


def _usage(message: str) -> int:
    print(f"telltale scan: error: {message}", file=sys.stderr)
    return 2


def _har_requests(path: str, errors: list[CaptureFileError]) -> list:
    """A HAR file's entries as the differential pairs them; a damaged entry goes to `errors`."""
    from telltale.detect import sources
    from telltale.detect.differential import Request

    entries = sources.har_entries(path)  # raises for a file that is no HAR at all
    out = []
    for i, s in sources.sent_of_har_entries(entries, path):
        if isinstance(s, CaptureFileError):
            errors.append(s)
            continue
        req = entries[i]["request"]
        url = str(req["url"])
        parts = urlsplit(url)
        path_q = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        out.append(Request(f"entry {i}", s.host, str(req.get("method", "GET")).upper(), path_q, s.parts, url))
    return out


def _run_requests(path: str, errors: list[CaptureFileError]) -> list:
    """Every request of one run's capture (flow file or HAR), in capture order; what could not be
    read, and an empty capture, goes to `errors`."""
    from telltale.capture import store
    from telltale.detect.differential import Request
    from telltale.detect.sources import capture_kind

    before = len(errors)
    try:
        if capture_kind(path) == "har":
            out = _har_requests(path, errors)
        else:
            out = [Request.of_flow(f) for f in store.read_flows(path, errors)]
    except CaptureFileError as e:
        errors.append(e)
        return []
    if not out and len(errors) == before:
        errors.append(CaptureFileError(path, "whole file", store.EMPTY_CAPTURE))
    return out


def _differential(args: argparse.Namespace) -> int:
    from telltale.destinations.policy import Policy, host_matches, load, resolve
    from telltale.detect import differential

    if args.captures or args.canary or args.identifier:
        return _usage("--differential takes its three captures and no other CAPTURE, --canary or "
                      "--identifier (the canaries are what differs between the runs)")
    pol = Policy()
    if args.policy:
        pol = resolve(load(args.policy), source=args.policy)
    entitled = tuple(h.strip().lower().rstrip(".") for h in args.entitled or ())

    def allowed(host: str) -> bool:
        return any(host_matches(p, host) for p in entitled)

    errors: list[CaptureFileError] = []
    runs = [_run_requests(p, errors) for p in args.differential]
    d = differential.compare(*runs, allowed) if not errors else differential.Differential()
    accepted = [pol.acceptance("opaque", m.host) for m in d.opaque]
    if args.format == "json":
        out = d.to_dict()
        for o, a in zip(out["opaque"], accepted, strict=True):
            o["accepted_by"] = a.name if a else None
        out["errors"] = [str(e) for e in errors]
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        if errors:
            for e in errors:
                print(f"error: {e}")
            print("scan --differential: could not judge: a capture could not be read in full, and the "
                  "pairing of requests needs every request of each run; nothing was compared")
        else:
            print(differential.render_text(d))
            for m, a in zip(d.opaque, accepted, strict=True):
                if a is not None:
                    print(f"accepted: opaque {m.location} of {m.host}: {a.name} ({a.reason})")
    if errors:
        return 2
    if d.correlated:
        return 1
    return 2 if any(a is None for a in accepted) else 0


def _scan(args: argparse.Namespace) -> int:
    if args.differential:
        return _differential(args)
    if args.entitled:
        return _usage("--entitled is for --differential")
    if not args.captures:
        return _usage("give at least one CAPTURE (or --differential RUN_A RUN_B RUN_REPEAT)")
    canaries = list(args.canary or []) + list(args.identifier or [])
    if not canaries and not args.policy:
        print("telltale scan: error: give at least one --canary, --identifier or --policy", file=sys.stderr)
        return 2
    result = scan_files(args.captures, canaries) if canaries else ScanResult()
    dest, dest_errors = [], []
    if args.policy:
        from telltale.destinations import cli as dcli

        dest, dest_errors = dcli.scan_findings(args.captures, args.policy)
        dest_errors = _unique(dest_errors, result.errors)
    if args.format == "json":
        _print_json(result, bool(args.policy), dest, dest_errors)
    else:
        _print_text(result, bool(canaries), args.policy, dest, dest_errors)
    if dest_errors:
        return 2
    code = exit_code(result)
    return max(code, 1) if dest and code == 0 else code


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="find canaries and device identifiers in capture files (flow files, HAR)",
                       description="Find every canary the device sent, in every encoding, and with "
                                   "--policy every destination the policy does not allow. With "
                                   "--differential, what no encoding explains: the bytes that move "
                                   "with the canary across three runs of the same actions.")
    p.add_argument("captures", nargs="*", metavar="CAPTURE", help="mitmproxy flow file or HAR 1.2 file")
    p.add_argument("--canary", action="append", type=_canary("canary"), metavar="NAME=VALUE",
                   help="a value the scenario made up (URL, search term, token, folder name)")
    p.add_argument("--identifier", action="append", type=_canary("identifier"), metavar="NAME=VALUE",
                   help="a device identifier (IMEI, serial, Android ID, MAC...); its hashes are searched too")
    p.add_argument("--policy", metavar="FILE",
                   help="policy.yaml: also report destination and transport findings (allowlist, "
                        "trackers, forbidden countries, plaintext, unexamined traffic); with "
                        "--differential, its accept_unexamined entries of kind opaque")
    p.add_argument("--differential", nargs=3, metavar=("RUN_A", "RUN_B", "RUN_REPEAT"),
                   help="compare three captures of the same actions (canary set A; a set B of the same "
                        "lengths; A again): report what moves with the canary (a leak no decoder can "
                        "read: XOR, a key in the firmware) and what changes on every run (opaque)")
    p.add_argument("--entitled", action="append", metavar="HOST",
                   help="with --differential: a host (or *.pattern) entitled to the canaries "
                        "(repeatable; default: nobody)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_scan)
