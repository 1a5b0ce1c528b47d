"""What a device sent, taken out of captures: mitmproxy flows and HAR entries.

Only the client's side counts (requests, client WebSocket messages, client
TCP/UDP bytes, DNS questions): what a server sends back is never a leak.
Bodies are taken as raw bytes (`raw_content`), never through mitmproxy's
uncapped `.content` decoding; the detector decompresses them itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from mitmproxy import dns, http, tcp, udp
from mitmproxy import flow as mflow

from telltale.capture.store import SERVER_IP_KEY, raw_destination, read_states, record_of_state
from telltale.detect.model import Part, Sent
from telltale.errors import CaptureFileError


def _header_parts(prefix: str, fields) -> list[Part]:
    out = []
    for name, value in fields:
        n = name.decode("latin-1")
        kind = "cookies" if n.lower() == "cookie" else "raw"
        out.append(Part(f"{prefix}[{n}]", value, kind=kind))
    return out


def _peer_ip(conn) -> str | None:
    peer = getattr(conn, "peername", None)
    return str(peer[0]) if peer else None


def _address_host(conn) -> str:
    addr = getattr(conn, "address", None)
    return str(addr[0]) if addr else ""


def _http_parts(f: http.HTTPFlow) -> list[Part]:
    req = f.request
    parts = [Part("request.url", req.pretty_url.encode("utf-8", "surrogateescape"), kind="url")]
    if req.host_header is None and req.host != req.pretty_host:
        parts.append(Part("request.host", req.host.encode()))
    parts += _header_parts("request.header", req.headers.fields)
    if req.trailers:
        parts += _header_parts("request.trailer", req.trailers.fields)
    body = req.raw_content  # raw: never req.content (uncapped decompression)
    if body:
        parts.append(Part("request.body", body, req.headers.get("content-encoding", ""),
                          req.headers.get("content-type", ""), kind="body"))
    if f.websocket is not None:
        for i, m in enumerate(f.websocket.messages):
            if m.from_client:  # a WebSocketMessage's content is its payload as sent, no decoding
                parts.append(Part(f"websocket[{i}]", m.content))
    return parts


def sent_of_flow(f: mflow.Flow, capture: str | None = None) -> Sent:
    """The parts one mitmproxy flow carried from the device."""
    if isinstance(f, (http.HTTPFlow, _StateFlow)):
        host = f.request.pretty_host
        return Sent(f.id, host, _peer_ip(f.server_conn), tuple(_http_parts(f)), capture)
    if isinstance(f, (tcp.TCPFlow, udp.UDPFlow)):
        proto = "tcp" if isinstance(f, tcp.TCPFlow) else "udp"
        parts = tuple(Part(f"{proto}[{i}]", m.content) for i, m in enumerate(f.messages) if m.from_client)
        host, ip, _ = raw_destination(f)
        return Sent(f.id, host or "", ip, parts, capture)
    if isinstance(f, dns.DNSFlow):
        questions = f.request.questions if f.request else []
        parts = tuple(Part(f"dns.question[{i}]", q.name.encode("utf-8", "replace"))
                      for i, q in enumerate(questions))
        # A name is sent towards the domain it names (its authoritative servers): that is
        # whom a canary in its labels reaches, whichever resolver carried it.
        host = questions[0].name.lower().rstrip(".") if questions else _address_host(f.server_conn)
        return Sent(f.id, host, f.metadata.get(SERVER_IP_KEY), parts, capture)
    return Sent(f.id, "", None, (), capture)


# --- flow states, without building the flow -------------------------------

_REQUEST_TYPES = {"host": str, "port": int, "method": bytes, "scheme": bytes, "authority": bytes,
                  "path": bytes, "http_version": bytes}


def _fields_ok(fields: object) -> bool:
    return isinstance(fields, list) and all(
        isinstance(f, list) and len(f) == 2 and type(f[0]) is bytes and type(f[1]) is bytes for f in fields)


def _request_of_state(st: object) -> http.Request | None:
    """A Request holding the state's fields as they are, if they are what FlowWriter writes.

    Built without mitmproxy's per-field type checks (which cost more than the scan of a small
    flow): the same checks are made here, and anything else is left to `Flow.from_state`.
    """
    if not isinstance(st, dict) or len(st) != 12:
        return None
    for k, t in _REQUEST_TYPES.items():
        if type(st.get(k)) is not t:
            return None
    content, trailers = st.get("content"), st.get("trailers", 0)
    if not (content is None or type(content) is bytes) or not _fields_ok(st.get("headers")) \
            or not (trailers is None or _fields_ok(trailers)):
        return None
    for k in ("timestamp_start", "timestamp_end"):
        v = st.get(k, "")
        if not (type(v) in (int, float) or (v is None and k == "timestamp_end")):
            return None
    data = object.__new__(http.RequestData)
    data.__dict__.update(st)
    data.headers = http.Headers(fields=st["headers"])
    data.trailers = None if trailers is None else http.Headers(fields=trailers)
    req = object.__new__(http.Request)
    req.data = data
    return req


class _StateFlow:
    """The parts of an HTTPFlow that `sent_of_flow` reads."""

    __slots__ = ("id", "peername", "request", "server_conn", "websocket")

    def __init__(self, fid: str, request: http.Request, peername: object):
        self.id = fid
        self.request = request
        self.server_conn = self
        self.websocket = None
        self.peername = peername  # it is its own server_conn


def sent_of_state(state: dict, capture: str | None = None) -> Sent | None:
    """What an HTTP flow's state (as `read_states` gives it) sent, as `sent_of_flow` would say;
    None when the state is not the plain HTTP flow this reads (then build the flow)."""
    if (state.get("type") != "http" or state.get("websocket", 0) is not None
            or type(state.get("id")) is not str):
        return None
    conn = state.get("server_conn")
    if not isinstance(conn, dict):
        return None
    peer = conn.get("peername", 0)
    if not (peer is None or (isinstance(peer, list) and len(peer) in (2, 4) and type(peer[0]) is str)):
        return None
    req = _request_of_state(state.get("request"))
    if req is None:
        return None
    f = _StateFlow(state["id"], req, tuple(peer) if peer else None)
    return sent_of_flow(f, capture)  # type: ignore[arg-type]


# --- HAR --------------------------------------------------------------------

def _har_headers(entries: list) -> list[tuple[bytes, bytes]]:
    return [(str(h.get("name", "")).encode("latin-1", "replace"), str(h.get("value", "")).encode())
            for h in entries or ()]


def sent_of_har_entry(index: int, entry: dict, capture: str | None = None) -> Sent:
    """The parts of one HAR 1.2 entry's request (and client WebSocket messages)."""
    req = entry["request"]
    url = str(req["url"])
    host = urlsplit(url).hostname or ""
    ip = entry.get("serverIPAddress") or None
    if ip:
        ip = str(ip).strip("[]")
    headers = _har_headers(req.get("headers"))
    parts = [Part("request.url", url.encode(), kind="url")]
    parts += _header_parts("request.header", headers)
    if not any(n.lower() == b"cookie" for n, _ in headers) and req.get("cookies"):
        cookie = "; ".join(f"{c.get('name', '')}={c.get('value', '')}" for c in req["cookies"])
        parts.append(Part("request.header[Cookie]", cookie.encode(), kind="cookies"))
    hdr = {n.decode().lower(): v.decode("latin-1") for n, v in headers}
    post = req.get("postData") or {}
    text = post.get("text")
    if text:
        if str(post.get("encoding", "")).lower() == "base64":
            body = base64.b64decode(text)
        else:
            body = text.encode("utf-8", "surrogatepass")
        parts.append(Part("request.body", body, hdr.get("content-encoding", ""),
                          post.get("mimeType") or hdr.get("content-type", ""), kind="body"))
    elif post.get("params"):
        for p in post["params"]:
            parts.append(Part(f"request.body param[{p.get('name', '')}]",
                              str(p.get("value", "")).encode(), content_type=p.get("contentType", "")))
    for i, m in enumerate(entry.get("_webSocketMessages") or ()):
        if m.get("type") == "send":
            data = str(m.get("data", ""))
            payload = data.encode()
            if m.get("opcode") == 2:  # binary frames are exported base64-encoded
                try:
                    payload = base64.b64decode(data, validate=True)
                except binascii.Error:
                    pass
            parts.append(Part(f"websocket[{i}]", payload))
    return Sent(index, host, ip, tuple(parts), capture)


def read_har(path: str | Path) -> Iterator[tuple[int, Sent | CaptureFileError]]:
    """Each HAR entry as what it sent, or as the error that names the damaged entry."""
    yield from sent_of_har_entries(har_entries(path), str(path))


def har_entries(path: str | Path) -> list:
    """The entries of a HAR file; a CaptureFileError for a file that is no HAR at all."""
    p = str(path)
    try:
        with open(p, "rb") as fo:
            doc = json.load(fo)
    except OSError as e:
        raise CaptureFileError(p, "open", e.strerror or str(e)) from e
    except (ValueError, UnicodeDecodeError) as e:
        raise CaptureFileError(p, "HAR", f"not valid JSON: {e}") from e
    except RecursionError:
        raise CaptureFileError(p, "HAR", "nested too deeply to read (not a HAR a browser writes)") from None
    try:
        entries = doc["log"]["entries"]
        if not isinstance(entries, list):
            raise TypeError("entries is not a list")
    except (KeyError, TypeError) as e:
        raise CaptureFileError(p, "HAR", f"no log.entries ({e})") from e
    return entries


def sent_of_har_entries(entries: list, p: str) -> Iterator[tuple[int, Sent | CaptureFileError]]:
    """Each entry as what it sent, or as the error that names the damaged entry (of file `p`)."""
    for i, entry in enumerate(entries):
        try:
            yield i, sent_of_har_entry(i, entry, p)
        except (KeyError, TypeError, AttributeError, ValueError, binascii.Error) as e:
            yield i, CaptureFileError(p, f"entry {i}", f"malformed HAR entry ({type(e).__name__}: {e})")


def capture_kind(path: str | Path) -> str:
    """"har" or "flows", from the first bytes; a CaptureFileError for anything else."""
    p = str(path)
    try:
        with open(p, "rb") as fo:
            head = fo.read(64)
    except OSError as e:
        raise CaptureFileError(p, "open", e.strerror or str(e)) from e
    s = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not s:
        return "flows"  # an empty capture: no flows, nothing to say
    if s[:1] == b"{":
        return "har"
    if s[:1].isdigit():
        return "flows"
    raise CaptureFileError(p, "start of file", "neither a mitmproxy flow file nor a HAR file")


def read_capture(path: str | Path, start: int = 0, end: int | None = None,
                 first: int = 0) -> Iterator[tuple[int, Sent | CaptureFileError]]:
    """(index, what was sent or the error) for each record/entry of a capture file, streaming.

    `start`/`end`: a span of a flow file on record boundaries whose first record is record
    number `first` of the file (indices, also in errors, are the file's).
    """
    p = str(path)
    if start == 0 and end is None and capture_kind(p) == "har":
        yield from read_har(p)
        return
    for rec_index, state in read_states(p, start, end):
        index = rec_index + first
        if isinstance(state, CaptureFileError):
            err = state
            if first and err.where == f"record {rec_index}":
                err = CaptureFileError(err.path, f"record {index}", err.message)
            yield index, err
            continue
        try:
            fast = sent_of_state(state, p)
        except Exception:  # noqa: BLE001 - the flow itself says what is wrong with it
            fast = None
        if fast is not None:
            yield index, fast
            continue
        rec = record_of_state(p, rec_index, state)
        if rec.error is not None:
            err = rec.error
            if first and err.where == f"record {rec.index}":
                err = CaptureFileError(err.path, f"record {index}", err.message)
            yield index, err
            continue
        try:
            yield index, sent_of_flow(rec.flow, p)
        except Exception as e:  # noqa: BLE001 - one odd flow must not stop the others
            yield index, CaptureFileError(p, f"record {index} (flow {rec.flow.id})",
                                          f"cannot take it apart: {e}")
