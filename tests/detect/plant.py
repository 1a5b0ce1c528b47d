"""Builders that plant a value in traffic: encoders (alone and chained) and carriers (where it goes).

Shared by the detector's tests: the same planted flows are scanned in memory,
from a mitmproxy flow file and from a HAR file.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

import brotlicffi
import zstandard
from mitmproxy import dns, http, io, tcp, udp, websocket
from mitmproxy.test import tflow

Enc = Callable[[bytes], bytes]


def pb_field(field: int, payload: bytes) -> bytes:
    """One protobuf length-delimited field."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def _json_escape_all(b: bytes) -> bytes:
    s = "".join(f"\\u{ord(c):04x}" if c.isalnum() and i % 2 else ("\\/" if c == "/" else json.dumps(c)[1:-1])
                for i, c in enumerate(b.decode()))
    return b'{"v": "' + s.encode() + b'"}'


def _multipart(b: bytes) -> bytes:
    return (b"--XyZb0undary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            b"--XyZb0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + b + b"\r\n--XyZb0undary--\r\n")


def _raw_deflate(b: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()


# name -> (encoder, step names the detector should report, in order)
ENCODERS: dict[str, tuple[Enc, tuple[str, ...]]] = {
    "plain": (lambda b: b, ()),
    "upper": (lambda b: b.upper(), ()),
    "url": (lambda b: quote(b, safe="").encode(), ("url",)),
    "url_plus": (lambda b: quote_plus(b, safe="").encode(), ("url",)),
    "url_twice": (lambda b: quote(quote(b, safe=""), safe="").encode(), ("url",)),
    "base64": (lambda b: base64.b64encode(b), ("base64",)),
    "base64_unpadded": (lambda b: base64.b64encode(b).rstrip(b"="), ("base64",)),
    "base64url": (lambda b: base64.urlsafe_b64encode(b).rstrip(b"="), ("base64",)),
    # the value at each of the 3 alignments inside a larger blob (delimited as records are)
    "base64_in_blob_1": (lambda b: base64.b64encode(b"<" + b + b">tail-bytes"), ("base64",)),
    "base64_in_blob_2": (lambda b: base64.b64encode(b"<|" + b + b"|>tail"), ("base64",)),
    "base64_in_blob_3": (lambda b: base64.urlsafe_b64encode(b"\xfb\xff\xfe" + b + b"\xff?"), ("base64",)),
    "hex": (lambda b: b.hex().encode(), ("hex",)),
    "hex_upper": (lambda b: b.hex().upper().encode(), ("hex",)),
    "json_escaped": (_json_escape_all, ("json",)),
    "json_field": (lambda b: json.dumps({"a": [1, {"name": b.decode()}]}).encode(), ("json",)),
    "form": (lambda b: b"a=1&q=" + quote_plus(b).encode() + b"&z=", ("form",)),
    "multipart": (_multipart, ("multipart",)),
    "protobuf": (lambda b: pb_field(1, b"\x08\x96\x01") + pb_field(2, pb_field(5, b)), ("protobuf",)),
    "gzip": (gzip.compress, ("gzip",)),
    "zlib": (zlib.compress, ("deflate",)),
    "raw_deflate": (_raw_deflate, ("deflate",)),
    "brotli": (brotlicffi.compress, ("br",)),
    "zstd": (lambda b: zstandard.ZstdCompressor().compress(b), ("zstd",)),
}


def encode(value: bytes, names: Iterable[str]) -> tuple[bytes, tuple[str, ...]]:
    """`value` through the named encoders, innermost first; the steps expected, outermost first."""
    steps: tuple[str, ...] = ()
    for n in names:
        fn, s = ENCODERS[n]
        value = fn(value)
        steps = s + steps
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


def write_flows(path: Path, flows) -> Path:
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        for f in flows:
            w.add(f)
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
