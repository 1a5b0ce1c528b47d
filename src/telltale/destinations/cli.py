"""`telltale destinations CAPTURE`: where a capture's traffic went, one row per host.

What could not be read (a damaged record, a malformed HAR entry, an empty capture, a bad
events file) is named after the table of what could, and the exit code is 2: a capture
read in part is never shown as the whole of where the device's traffic went.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from telltale import paths, tables
from telltale.capture import store
from telltale.destinations import geo, policy, rules, transport
from telltale.destinations.datasets import data_lines
from telltale.errors import CaptureFileError


def _policy(arg: str | None) -> tuple[policy.Policy, Path | None]:
    if arg:
        f = Path(arg)
        return policy.resolve(policy.load(f), source=f), f
    default = paths.find_root() / policy.POLICY_FILE
    if default.is_file():
        return policy.resolve(policy.load(default), source=default), default
    return policy.Policy(), None


def _har_entries(capture: Path) -> list:
    """The entries of a HAR file, or the error that names it as no HAR."""
    p = str(capture)
    try:
        doc = json.loads(capture.read_bytes())
    except OSError as e:
        raise CaptureFileError(p, "open", e.strerror or str(e)) from None
    except ValueError as e:  # not JSON, or not UTF-8/16/32
        raise CaptureFileError(p, "HAR", f"not valid JSON: {e}") from None
    except RecursionError:
        raise CaptureFileError(p, "HAR", "JSON nested too deeply to read") from None
    log = doc.get("log") if isinstance(doc, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise CaptureFileError(p, "HAR", "not a HAR file (no log.entries list)")
    return entries


def _har_flows(capture: Path, errors: list[CaptureFileError]):
    """A HAR file's entries through mitmproxy's own HAR import, one at a time: a malformed
    entry is named in `errors` and the others are still read."""
    from mitmproxy.io.har import request_to_flow

    for i, entry in enumerate(_har_entries(capture)):
        try:
            f = request_to_flow(entry)
        except Exception as e:  # noqa: BLE001 - whatever mitmproxy trips on is this entry's damage
            errors.append(CaptureFileError(str(capture), f"entry {i}",
                                           f"malformed HAR entry ({type(e).__name__}: {e})"))
            continue
        # mitmproxy's HAR import keeps serverIPAddress as the server's address only
        addr = getattr(f.server_conn, "address", None)
        if addr and geo.normalise_ip(addr[0]):
            f.metadata.setdefault(store.SERVER_IP_KEY, addr[0])
        yield f


def _flows(capture: Path, errors: list[CaptureFileError]):
    """Every flow of a capture that could be read; each part that could not, and an empty capture,
    goes to `errors`. A file that is not there or not a capture raises CaptureFileError."""
    from telltale.detect.sources import capture_kind

    reader = _har_flows if capture_kind(capture) == "har" else store.read_flows
    before, read = len(errors), 0
    for f in reader(capture, errors):
        read += 1
        yield f
    if not read and len(errors) == before:
        errors.append(CaptureFileError(str(capture), "whole file", store.EMPTY_CAPTURE))


def _events(capture: Path, errors: list[CaptureFileError]) -> tuple[dict, ...]:
    """The capture's events (refused TLS handshakes); an unreadable events file goes to `errors`."""
    path = transport.events_file(capture)
    try:
        return transport.read_events(path)
    except CaptureFileError as e:
        errors.append(e)
    except (OSError, ValueError) as e:  # a folder, no permission, not UTF-8
        errors.append(CaptureFileError(str(path), "events", f"unreadable: {e}"))
    return ()


def scan_findings(captures: list[str], policy_file: str) \
        -> tuple[list[rules.RuleFinding], list[CaptureFileError]]:
    """`telltale scan --policy`: the destination and transport findings of each capture, not
    accepted by the policy, and the captures that could not be read (named, the rest still judged)."""
    pol, _ = _policy(policy_file)
    lk = rules.scan_lookups(pol)
    found: list[rules.RuleFinding] = []
    errors: list[CaptureFileError] = []
    for c in captures:
        path = Path(c)
        try:
            flows = list(_flows(path, errors))
        except CaptureFileError as e:  # not there, or not a capture at all: the others are still judged
            errors.append(e)
            continue
        events = _events(path, errors)
        found += rules.destination_findings(flows, pol, tls_failures=events, lookups=lk)
    return found, errors


def run(args: argparse.Namespace) -> int:
    pol, _ = _policy(args.policy)
    capture = Path(args.capture)
    lk = rules.lookups_for(pol)
    errors: list[CaptureFileError] = []
    cs = transport.contacts(_flows(capture, errors))
    rows = rules.summarise(cs, lk)
    refused = transport.tls_refusals(_events(capture, errors))
    if args.format == "json":
        json.dump({"destinations": [r.to_dict() for r in rows], "errors": [str(e) for e in errors]},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
        return _exit_code(errors)
    head = ("host", "domain", "IPs", "country", "tracker", "requests", "bytes sent")
    table = [(r.host, r.domain, ",".join(r.ips) or "?", r.country, r.tracker or "-", str(r.requests),
              str(r.bytes_sent)) for r in rows]
    print(tables.table(head, table))
    if refused:
        print(f"\nunexamined: {len(refused)} TLS handshake(s) refused by the client: "
              + ", ".join(sorted({u.host or u.ip or "?" for u in refused})))
    print("\n" + data_lines(lk.datasets))
    _print_errors(errors)
    return _exit_code(errors)


def _print_errors(errors: list[CaptureFileError]) -> None:
    for e in errors:
        print(f"error: {e}")
    if errors:
        print(f"destinations: could not judge: {len(errors)} error(s) above; the table is of what "
              "could be read")


def _exit_code(errors: list[CaptureFileError]) -> int:
    """0: the table is the whole capture; 2: it is not (could not judge)."""
    return 2 if errors else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("destinations",
                       help="where a capture's traffic went: host, IPs, country, tracker, bytes")
    p.add_argument("capture", help="a capture file (mitmproxy flow file, or HAR 1.2)")
    p.add_argument("--policy",
                   help="policy.yaml (default: the checkout's, if any): tracker lists, IP database")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)
