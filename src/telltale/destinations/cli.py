"""`telltale destinations CAPTURE`: where a capture's traffic went, one row per host."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from telltale import paths
from telltale.capture import store
from telltale.destinations import geo, policy, rules, transport


def _policy(arg: str | None) -> tuple[policy.Policy, Path | None]:
    if arg:
        f = Path(arg)
        return policy.resolve(policy.load(f), source=f), f
    default = paths.find_root() / policy.POLICY_FILE
    if default.is_file():
        return policy.resolve(policy.load(default), source=default), default
    return policy.Policy(), None


def _flows(capture: Path):
    """A flow file through Telltale's reader; a HAR file through mitmproxy's own HAR import."""
    from telltale.detect.sources import capture_kind

    if capture_kind(capture) != "har":
        yield from store.read_flows(capture)
        return
    from mitmproxy import io as mio

    with open(capture, "rb") as fo:
        for f in mio.FlowReader(fo).stream():
            # mitmproxy's HAR import keeps serverIPAddress as the server's address only
            addr = getattr(f.server_conn, "address", None)
            if addr and geo.normalise_ip(addr[0]):
                f.metadata.setdefault(store.SERVER_IP_KEY, addr[0])
            yield f


def scan_findings(captures: list[str], policy_file: str) -> tuple[list[rules.Finding], list[str]]:
    """`telltale scan --policy`: the destination and transport findings of each capture, not
    accepted by the policy, and the captures that could not be read (named, the rest still judged)."""
    pol, _ = _policy(policy_file)
    lk = rules.lookups_for(pol, geo=bool(pol.forbidden))
    found: list[rules.Finding] = []
    errors: list[str] = []
    for c in captures:
        path = Path(c)
        try:
            flows = list(_flows(path))
            events = transport.read_events(transport.events_file(path))
        except Exception as e:  # noqa: BLE001 - a bad capture is named; the others are still judged
            errors.append(f"{path}: destinations not judged: {e}")
            continue
        found += rules.destination_findings(flows, pol, tls_failures=events, lookups=lk)
    return found, errors


def run(args: argparse.Namespace) -> int:
    pol, _ = _policy(args.policy)
    capture = Path(args.capture)
    lk = rules.lookups_for(pol)
    cs = transport.contacts(_flows(capture))
    rows = rules.summarise(cs, lk)
    refused = transport.tls_refusals(transport.read_events(transport.events_file(capture)))
    if args.format == "json":
        json.dump({"destinations": [r.to_dict() for r in rows]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    head = ("host", "domain", "IPs", "country", "tracker", "requests", "bytes sent")
    table = [(r.host, r.domain, ",".join(r.ips) or "?", r.country, r.tracker or "-", str(r.requests),
              str(r.bytes_sent)) for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*head))
    for t in table:
        print(fmt.format(*t))
    if refused:
        print(f"\nunexamined: {len(refused)} TLS handshake(s) refused by the client: "
              + ", ".join(sorted({u.host or u.ip or "?" for u in refused})))
    print("\ndata: " + "\n      ".join(d.line() for d in lk.datasets))
    if lk.geo is not None and lk.geo.dataset.name == "dbip-country-lite":
        print(f"      {geo.ATTRIBUTION}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("destinations",
                       help="where a capture's traffic went: host, IPs, country, tracker, bytes")
    p.add_argument("capture", help="a capture file (mitmproxy flow file, or HAR 1.2)")
    p.add_argument("--policy",
                   help="policy.yaml (default: the checkout's, if any): tracker lists, IP database")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)
