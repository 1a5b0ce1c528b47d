"""Evidence for a window: its HAR and its findings, in forms a person can read.

mitmproxy's HAR export decodes bodies without a size cap (a 10 GiB gzip, brotli or
zstd bomb ran a process out of memory there), so bodies are handed to it as they were sent: the
Content-Encoding header is moved aside, and the compressed bytes land in the
HAR base64-encoded, byte-exact, never inflated.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence

from mitmproxy import http
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.flow import Flow
from mitmproxy.utils import strutils

from telltale import redact as redaction
from telltale import tables
from telltale.capture.store import SERVER_IP_KEY

KEPT_ENCODING = "x-telltale-content-encoding"


def _as_sent(f: http.HTTPFlow) -> http.HTTPFlow:
    f = f.copy()
    for msg in (f.request, f.response):
        if msg is not None and "content-encoding" in msg.headers:
            msg.headers[KEPT_ENCODING] = msg.headers.pop("content-encoding")
    return f


def window_har(flows: Sequence[Flow], redact: bool = True, keep: redaction.Keep | None = None) -> bytes:
    """HAR 1.2 of a window's HTTP flows, bodies as sent, credentials redacted unless told not to.

    A request body that is compressed or binary goes in base64 (marked with
    ``_encoding``, as HAR does for responses), so the evidence is byte-exact.
    """
    http_flows = [_as_sent(f) for f in flows if isinstance(f, http.HTTPFlow)]
    if redact:
        http_flows = redaction.flows(http_flows, keep)
    har = SaveHar().make_har(http_flows)
    for f, entry in zip(http_flows, har["log"]["entries"], strict=True):
        if not entry.get("serverIPAddress") and f.metadata.get(SERVER_IP_KEY):
            entry["serverIPAddress"] = f.metadata[SERVER_IP_KEY]  # the offline host map's address
        raw = f.request.raw_content or b""
        post = entry["request"].get("postData")
        if post is not None and raw and (KEPT_ENCODING in f.request.headers or strutils.is_mostly_bin(raw)):
            post["text"] = base64.b64encode(raw).decode()
            post["_encoding"] = "base64"
            post["params"] = []
    return json.dumps(har, indent=1).encode()


def findings_lines(rows: Iterable[dict]) -> str:
    """One line a finding, for a failure message a person reads top to bottom."""
    return "\n".join(
        f"- {r.get('canary')} -> {r.get('host')} ({r.get('server_ip') or 'ip unknown'}) "
        f"in {r.get('location')}: {r.get('excerpt')}" for r in rows)


def findings_table(rows: Iterable[dict]) -> str:
    """A plain-text table of findings for a report attachment."""
    rows = list(rows)
    if not rows:
        return "no findings\n"
    cols = ["canary", "host", "server_ip", "location", "excerpt", "flow"]
    cells = [[tables.cut(str(r[c]) if r.get(c) is not None else "", 60, mark="") for c in cols] for r in rows]
    return tables.table(cols, cells, rule=True) + "\n"


def offending_requests(flows: Sequence[Flow], rows: Iterable[dict], redact: bool = True,
                       keep: redaction.Keep | None = None) -> str:
    """Each request that carried a finding: its request line and headers (credentials
    redacted) and every match in it, decoded, with the decoding chain that reached it."""
    by_flow: dict[str, list[dict]] = {}
    for r in rows:
        by_flow.setdefault(str(r.get("flow")), []).append(r)
    out = []
    for f in flows:
        hits = by_flow.get(str(f.id))
        if not hits or not isinstance(f, http.HTTPFlow):
            continue
        shown = redaction.flow(f, keep)[0] if redact else f
        req = shown.request
        ip = f.server_conn.peername[0] if f.server_conn.peername else "unknown"
        lines = [f"{req.method} {req.pretty_url}  (server {ip})"]
        lines += [f"  {k}: {v}" for k, v in req.headers.items(multi=True)]
        lines.append(f"  body: {len(req.raw_content or b'')} bytes as sent")
        for h in hits:
            lines.append(f"  FOUND {h.get('canary')} in {h.get('location')}: {h.get('excerpt')}")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n" if out else "no offending request\n"
