"""Builders that plant a value in traffic: encoders (alone and chained) and carriers (where it goes).

Shared by the detector's tests: the same planted flows are scanned in memory,
from a mitmproxy flow file and from a HAR file. The encoders are the plantings
(`plants/<family>.py`) of every decoder family the registry holds.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io as pyio
import json
from collections.abc import Iterable
from pathlib import Path

from mitmproxy import dns, http, io, tcp, udp, websocket
from mitmproxy.test import tflow

from telltale.detect.decoders import _registry
from tests.detect.plants import Plant


def _registered_plants() -> dict[str, Plant]:
    """The plantings of each family of registered decoders, in the registry's order."""
    out: dict[str, Plant] = {}
    for family in dict.fromkeys(type(d).__module__.rsplit(".", 1)[-1] for d in _registry.walk()):
        name = f"tests.detect.plants.{family}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue  # a family with nothing to plant (a guard); test_detect_registry checks coverage
        out.update(module.PLANTS)
    return out


# name -> how to plant a value, and the steps the detector should report
ENCODERS: dict[str, Plant] = {
    "plain": Plant(lambda b: b, (), ""),
    "upper": Plant(lambda b: b.upper(), (), ""),
    **_registered_plants(),
}


def encode(value: bytes, names: Iterable[str]) -> tuple[bytes, tuple[str, ...]]:
    """`value` through the named encoders, innermost first; the steps expected, outermost first."""
    steps: tuple[str, ...] = ()
    for n in names:
        p = ENCODERS[n]
        value = p.encode(value)
        steps = p.steps + steps
    return value, steps


def is_subsequence(small: Iterable[str], big: Iterable[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


# --- carriers ---------------------------------------------------------------

def http_flow(path: str = "/collect", body: bytes = b"", headers: dict[str, str] | None = None,
              host: str = "tracker.example.com", response: bytes | None = None,
              resp_headers: dict[str, str] | None = None) -> http.HTTPFlow:
    f = tflow.tflow(resp=response is not None)
    f.request.host = host
    f.request.headers["host"] = host
    f.request.method = "POST" if body else "GET"
    f.request.path = path
    f.request.raw_content = body
    for k, v in (headers or {}).items():
        f.request.headers[k] = v
    if response is not None:
        f.response.raw_content = response
        for k, v in (resp_headers or {}).items():
            f.response.headers[k] = v
    f.server_conn.peername = ("203.0.113.7", 443)
    return f


def ws_flow(client: list[bytes], server: list[bytes] = ()) -> http.HTTPFlow:
    f = tflow.twebsocketflow()
    f.request.host = "ws.example.com"
    f.request.headers["host"] = "ws.example.com"
    f.websocket.messages = ([websocket.WebSocketMessage(2, True, m) for m in client]
                            + [websocket.WebSocketMessage(2, False, m) for m in server])
    return f


def raw_flow(proto: str, client: list[bytes], server: list[bytes] = ()):
    f = tflow.ttcpflow() if proto == "tcp" else tflow.tudpflow()
    cls = tcp.TCPMessage if proto == "tcp" else udp.UDPMessage
    f.messages = [cls(True, m) for m in client] + [cls(False, m) for m in server]
    return f


def dns_flow(name: str):
    f = tflow.tdnsflow()
    f.request.questions = [dns.Question(name, dns.types.A, dns.classes.IN)]
    return f


def flow_bytes(flows) -> bytes:
    """The flows as a mitmproxy flow file holds them."""
    buf = pyio.BytesIO()
    w = io.FlowWriter(buf)
    for f in flows:
        w.add(f)
    return buf.getvalue()


def write_flows(path: Path, flows) -> Path:
    path.write_bytes(flow_bytes(flows))
    return path


def har_entry(f: http.HTTPFlow) -> dict:
    """One HAR 1.2 entry as a browser or proxy exports it (binary bodies base64 with `encoding`)."""
    req = f.request
    headers = [{"name": k.decode(), "value": v.decode("latin-1")} for k, v in req.headers.fields]
    entry = {
        "startedDateTime": "2026-11-24T10:00:00.000Z", "time": 1,
        "request": {"method": req.method, "url": req.pretty_url, "httpVersion": req.http_version,
                    "headers": headers, "queryString": [], "cookies": [], "headersSize": -1,
                    "bodySize": len(req.raw_content or b"")},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [],
                     "cookies": [], "content": {"size": 0, "mimeType": "text/plain"},
                     "redirectURL": "", "headersSize": -1, "bodySize": -1},
        "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
        "serverIPAddress": "203.0.113.7",
    }
    if f.response is not None and f.response.raw_content:
        entry["response"]["content"] = {"size": len(f.response.raw_content), "mimeType": "text/plain",
                                         "text": f.response.raw_content.decode("latin-1")}
    body = req.raw_content
    if body:
        post = {"mimeType": req.headers.get("content-type", "application/octet-stream")}
        try:
            post["text"] = body.decode("utf-8")
        except UnicodeDecodeError:
            post["text"], post["encoding"] = base64.b64encode(body).decode(), "base64"
        entry["request"]["postData"] = post
    if f.websocket is not None:
        entry["_webSocketMessages"] = [
            {"type": "send" if m.from_client else "receive", "time": 0, "opcode": 2,
             "data": base64.b64encode(m.content).decode()} for m in f.websocket.messages]
    return entry


def write_har(path: Path, flows) -> Path:
    doc = {"log": {"version": "1.2", "creator": {"name": "telltale-tests", "version": "1"},
                   "entries": [har_entry(f) for f in flows]}}
    path.write_text(json.dumps(doc))
    return path


def sha256_hex(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()
