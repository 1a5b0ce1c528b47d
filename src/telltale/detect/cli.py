"""`telltale scan CAPTURE...`: the detector on capture files, for a person or a pipeline.

Exit 0: nothing found; 1: findings; 2: could not judge: a file, record or HAR entry
could not be read, or a capture held no flow (each is named; the rest was still
scanned and its findings reported). Nothing read is never "nothing found".
"""

from __future__ import annotations

import argparse
import json
import sys

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


def _scan(args: argparse.Namespace) -> int:
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
                                   "--policy every destination the policy does not allow.")
    p.add_argument("captures", nargs="+", metavar="CAPTURE", help="mitmproxy flow file or HAR 1.2 file")
    p.add_argument("--canary", action="append", type=_canary("canary"), metavar="NAME=VALUE",
                   help="a value the scenario made up (URL, search term, token, folder name)")
    p.add_argument("--identifier", action="append", type=_canary("identifier"), metavar="NAME=VALUE",
                   help="a device identifier (IMEI, serial, Android ID, MAC...); its hashes are searched too")
    p.add_argument("--policy", metavar="FILE",
                   help="policy.yaml: also report destination and transport findings (allowlist, "
                        "trackers, forbidden countries, plaintext, unexamined traffic)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_scan)
