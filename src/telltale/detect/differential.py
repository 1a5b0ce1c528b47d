"""Differential runs: find a leak no decoder can read, by what moves with the canary.

A value XORed or encrypted with a key baked into firmware never matches a canary in any
encoding (Agrigento, NDSS 2017). Three runs of the same actions can still show it: run A
with canary set A, run B with a different set B of the same lengths, run R repeating A.
Requests are paired across the runs; a byte that differs between A and B but not between A
and R moves with the canary ("correlated"). A byte that differs even between A and R is
noise (nonces, clocks, random-IV encryption): harmless when it is small or of a known
volatile shape, otherwise the lab cannot judge it ("opaque").

Pure: no pytest, no files. Bounded: values are cut at `MAX_VALUE`, decompression at
`MAX_DECODED`, regions per value at `MAX_REGIONS`; every cut is named in `notes`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from mitmproxy import dns, http, tcp, udp
from mitmproxy import flow as mflow

from telltale.capture.store import raw_destination
from telltale.detect.decoders._api import looks_text
from telltale.detect.decoders.compression import gunzip, inflate, unbrotli, unzstd
from telltale.detect.decoders.structure import form_fields
from telltale.detect.model import Part
from telltale.detect.sources import sent_of_flow
from telltale.domains import registrable_domain
from telltale.tables import cut, table

MAX_VALUE = 1 << 20      # bytes of one value compared: beyond it the value is cut (and noted)
MAX_DECODED = 16 << 20   # bytes one body may decompress to
MAX_REGIONS = 16         # regions of each kind per value: the rest are merged into the last
MAX_LEAVES = 20_000      # JSON leaves or form fields of one part
MAX_FINDINGS = 1000      # of each kind in one comparison
MERGE_GAP = 4            # changed bytes fewer than this apart are one region
MIN_OPAQUE = 16          # a changing region shorter than this cannot carry a value

# Headers that change with the connection or the clock, never with what is sent in them.
SKIPPED_HEADERS = frozenset({"content-length", "connection", "keep-alive", "proxy-connection",
                             "transfer-encoding", "te", "trailer", "upgrade", "date"})

_DECOMPRESS = {"gzip": gunzip, "x-gzip": gunzip, "deflate": inflate, "br": unbrotli, "zstd": unzstd}
_RUNS = ("A", "B", "R")


# --- what a run sent, in the shape the differential pairs ------------------------------

@dataclass(frozen=True)
class Request:
    """One thing a device sent, as the differential pairs it: a flow or a HAR entry.

    `path` is as sent (query included); ":port" for TCP/UDP, "" for DNS. `method` is the
    HTTP method, or WS, TCP, UDP, DNS: the protocol is part of what pairs requests.
    """

    flow: str
    host: str
    method: str
    path: str
    parts: tuple[Part, ...]
    url: str = ""

    @classmethod
    def of_flow(cls, f: mflow.Flow) -> Request:
        sent = sent_of_flow(f)
        if isinstance(f, http.HTTPFlow):
            method = "WS" if f.websocket is not None else f.request.method
            return cls(str(f.id), sent.host, method, f.request.path, sent.parts, f.request.pretty_url)
        if isinstance(f, (tcp.TCPFlow, udp.UDPFlow)):
            method = "TCP" if isinstance(f, tcp.TCPFlow) else "UDP"
            _, _, port = raw_destination(f)
            path = f":{port}" if port else ""
            return cls(str(f.id), sent.host, method, path, sent.parts, f"{method.lower()}://{sent.host}{path}")
        if isinstance(f, dns.DNSFlow):
            return cls(str(f.id), sent.host, "DNS", "", sent.parts, f"dns:{sent.host}")
        return cls(str(f.id), sent.host, type(f).__name__, "", sent.parts, sent.host)


def _request(item: mflow.Flow | Request) -> Request:
    return item if isinstance(item, Request) else Request.of_flow(item)


# --- pairing ------------------------------------------------------------------------------

_TOKEN_RUN = re.compile(r"[A-Za-z0-9+=_%~.-]{6,}")


def _variable(segment: str) -> bool:
    """A path segment that holds an id, a hash or an encoded value (it may hold the canary):
    a run of 6+ such characters with a digit in it, or 16+ of them (base64 without digits)."""
    return any(len(m) >= 16 or any(c.isdigit() for c in m) for m in _TOKEN_RUN.findall(segment))


def path_shape(path: str) -> str:
    """The path without its query, each segment that holds a value as `*`: what stays
    the same when only the canaries change."""
    p = path.split("?", 1)[0].split("#", 1)[0]
    return "/".join("*" if _variable(s) else s for s in p.split("/"))


def pair_key(req: Request) -> tuple[str, str, str]:
    """(registrable domain, method or protocol, path shape): a canary in a subdomain or a path
    segment does not keep a request from its counterparts."""
    domain = registrable_domain(req.host) if req.host else ""
    if req.method == "DNS":  # the labels below the domain are its path: other names are other requests
        sub = req.host[: -len(domain)] if domain and req.host.endswith(domain) else req.host
        labels = [x for x in sub.split(".") if x]
        return domain, "DNS", ".".join("*" if _variable(x) or any(c.isdigit() for c in x) else x
                                       for x in labels)
    return domain, req.method, path_shape(req.path)


# --- the values compared ---------------------------------------------------------------

@dataclass(frozen=True)
class _Value:
    location: str
    what: str  # the location in words, for the finding's sentence
    data: bytes


@dataclass(frozen=True)
class _Part:
    """A sent part ready to compare: its bytes (decompressed) and, when structured, its leaves."""

    key: str
    whole: _Value
    leaves: tuple[str, dict[str, _Value]] | None  # (structure kind, location -> value)
    notes: tuple[str, ...] = ()


def _decode(data: bytes, encoding: str) -> tuple[bytes, str, str | None]:
    """The body with its content-encoding undone (capped): (bytes, how, note)."""
    encs = [e.strip().lower() for e in encoding.split(",") if e.strip()]
    encs = [e for e in encs if e != "identity"]
    if not encs:
        return data, "", None
    out = data
    for e in reversed(encs):
        fn = _DECOMPRESS.get(e)
        if fn is None:
            return data, "", f"content-encoding {encoding!r} not known: compared as sent"
        d = fn(out, MAX_DECODED)
        if d.error and not d.data:
            return data, "", f"content-encoding {e} does not decode ({d.error}): compared as sent"
        if d.capped:
            return d.data, ", ".join(encs), f"{e} output cut at {MAX_DECODED >> 20} MiB"
        out = d.data
    return out, ", ".join(encs), None


def _json_path(base: str, key: object) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    k = str(key)
    return f"{base}.{k}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", k) else f"{base}[{json.dumps(k)}]"


def _json_leaves(doc: object) -> dict[str, bytes] | None:
    out: dict[str, bytes] = {}
    stack: list[tuple[str, object]] = [("$", doc)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, dict) and v:
            stack += [(_json_path(path, k), x) for k, x in reversed(list(v.items()))]
        elif isinstance(v, list) and v:
            stack += [(_json_path(path, i), x) for i, x in reversed(list(enumerate(v)))]
        else:
            out[path] = v.encode("utf-8", "surrogatepass") if isinstance(v, str) else json.dumps(v).encode()
            if len(out) > MAX_LEAVES:
                return None
    return out


def _as_json(data: bytes) -> dict[str, bytes] | None:
    s = data.lstrip()
    if s[:1] not in (b"{", b"[") or not looks_text(data):
        return None
    try:
        return _json_leaves(json.loads(data))
    except (ValueError, RecursionError):
        return None


def _pairs(text: bytes) -> list[tuple[str, bytes]]:
    """name=value pairs of a query or form, names indexed when repeated (`q`, `q[1]`)."""
    out: list[tuple[str, bytes]] = []
    seen: dict[str, int] = {}
    for name_b, _, value in form_fields(text, declared=True) or []:
        name = name_b.decode("utf-8", "replace")
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append((name if n == 0 else f"{name}[{n}]", value))
        if len(out) > MAX_LEAVES:
            break
    return out


def _url_leaves(loc: str, data: bytes) -> dict[str, _Value]:
    u = urlsplit(data.decode("utf-8", "surrogateescape"))

    def b(s: str) -> bytes:
        return s.encode("utf-8", "surrogateescape")

    out = {f"{loc} host": _Value(f"{loc} host", "the URL's host", b(u.netloc)),
           f"{loc} path": _Value(f"{loc} path", "the URL's path", b(u.path))}
    for name, value in _pairs(b(u.query)):
        where = f"{loc} query {name}"
        out[where] = _Value(where, f"query parameter {name} of the URL", value)
    if u.fragment:
        out[f"{loc} fragment"] = _Value(f"{loc} fragment", "the URL's fragment", b(u.fragment))
    return out


def _cookie_leaves(loc: str, data: bytes) -> dict[str, _Value]:
    out: dict[str, _Value] = {}
    for item in data.split(b";"):
        name, _, value = item.strip().partition(b"=")
        n = name.decode("latin-1")
        if f"{loc} cookie {n}" not in out:
            out[f"{loc} cookie {n}"] = _Value(f"{loc} cookie {n}", f"cookie {n}", value)
    return out


def _header_name(location: str) -> str | None:
    m = re.fullmatch(r"request\.(?:header|trailer)\[(.*)\]", location)
    return m.group(1) if m else None


def _what(location: str, how: str) -> str:
    """A part's location in words."""
    name = _header_name(location)
    if name is not None:
        return f"header {name}"
    m = re.fullmatch(r"(websocket|tcp|udp|dns\.question)\[(\d+)\]", location)
    if m:
        kind = {"websocket": "WebSocket message", "tcp": "TCP message", "udp": "UDP datagram",
                "dns.question": "DNS question"}[m.group(1)]
        return f"{kind} {m.group(2)}"
    words = {"request.body": "the body", "request.url": "the URL", "request.host": "the host"}
    w = words.get(location, location)
    return f"{w} ({how}, decoded)" if how else w


def _prepare(p: Part, key: str) -> _Part | None:
    """The part as compared; None for a header that never carries what is sent."""
    name = _header_name(p.location)
    if name is not None and name.lower() in SKIPPED_HEADERS:
        return None
    notes: list[str] = []
    data, how = p.data, ""
    if p.kind == "body":
        data, how, note = _decode(p.data, p.content_encoding)
        if note:
            notes.append(note)
    of = _what(p.location, how)
    whole = _Value(key, of, data)
    leaves: tuple[str, dict[str, _Value]] | None = None
    if p.kind == "url":
        leaves = ("url", _url_leaves(key, data))
    elif p.kind == "cookies":
        leaves = ("cookies", _cookie_leaves(key, data))
    elif p.kind == "body" or p.location.startswith("websocket["):
        found = _as_json(data)
        if found is not None:
            leaves = ("json", {f"{key} json {k}": _Value(f"{key} json {k}", f"JSON field {k} of {of}", v)
                               for k, v in found.items()})
        elif p.kind == "body" and "x-www-form-urlencoded" in p.content_type.lower() and looks_text(data):
            leaves = ("form", {f"{key} form {k}": _Value(f"{key} form {k}", f"form field {k} of {of}", v)
                               for k, v in _pairs(data)})
    return _Part(key, whole, leaves, tuple(notes))


def _parts(req: Request) -> dict[str, _Part]:
    """The request's parts by location; a repeated location (a header sent twice) numbered."""
    out: dict[str, _Part] = {}
    for p in req.parts:
        key, n = p.location, 1
        while key in out:
            n += 1
            key = f"{p.location} #{n}"
        prepared = _prepare(p, key)
        if prepared is not None:
            out[key] = prepared
    return out


def values_of(item: mflow.Flow | Request) -> dict[str, bytes]:
    """Every value a request could be compared by (whole parts and their leaves), by location."""
    out: dict[str, bytes] = {}
    for key, p in _parts(_request(item)).items():
        out[key] = p.whole.data
        for loc, v in (p.leaves[1] if p.leaves else {}).items():
            out.setdefault(loc, v.data)
    return out


# --- comparing one value ----------------------------------------------------------------

def _prefix(x: bytes, y: bytes) -> int:
    """Length of the common prefix (binary search on slices: C comparisons, not a byte loop)."""
    lo, hi = 0, min(len(x), len(y))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[:mid] == y[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _suffix(x: bytes, y: bytes, limit: int) -> int:
    lo, hi = 0, min(len(x), len(y), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[len(x) - mid:] == y[len(y) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _group(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Positions as [start, end) regions; gaps shorter than MERGE_GAP are closed."""
    out: list[list[int]] = []
    for i in positions:
        if out and i - out[-1][1] < MERGE_GAP:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return [(s, e) for s, e in out]


def _span(x: bytes, y: bytes) -> list[tuple[int, int]]:
    """The one region of x that differs from y, by common prefix and suffix (lengths differ)."""
    if x == y:
        return []
    p = _prefix(x, y)
    s = _suffix(x, y, min(len(x), len(y)) - p)
    return [(p, len(x) - s)] if len(x) - s > p else []


def _diff(a: bytes, b: bytes, r: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(moved regions, noise regions) of a, in a's offsets."""
    if len(a) == len(b) == len(r):
        p = min(_prefix(a, b), _prefix(a, r))
        s = min(_suffix(a, b, len(a) - p), _suffix(a, r, len(a) - p))
        moved: list[int] = []
        noise: list[int] = []
        for i, (x, y, z) in enumerate(zip(a[p:len(a) - s], b[p:len(b) - s], r[p:len(r) - s], strict=True), p):
            if x != z:
                noise.append(i)
            elif x != y:
                moved.append(i)
        return _group(moved), _group(noise)
    return _span(a, b), _span(a, r)


def _subtract(regions: list[tuple[int, int]], cover: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`regions` without what `cover` (each widened by the merge gap) spans: a byte inside a
    region that changes between A and R is noise, even when it also differs between A and B."""
    out = []
    for s, e in regions:
        pieces = [(s, e)]
        for cs, ce in cover:
            cs, ce = cs - (MERGE_GAP - 1), ce + (MERGE_GAP - 1)
            pieces = [q for ps, pe in pieces for q in ((ps, min(pe, cs)), (max(ps, ce), pe)) if q[1] > q[0]]
        out += pieces
    return out


_VOLATILE = re.compile(
    rb"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"                                         # a number
    rb"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"  # ISO 8601
    rb"|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    rb" \d{4} \d{2}:\d{2}:\d{2} GMT"                                                 # HTTP date
    rb"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUID
)
_TOKEN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:.+-")


def volatile(value: bytes) -> bool:
    """A number, an ISO 8601 or HTTP date-time, a UUID: values that change by themselves."""
    v = value.strip().strip(b'"')
    return len(v) <= 64 and _VOLATILE.fullmatch(v) is not None


def _token(value: bytes, start: int, end: int) -> tuple[int, int] | None:
    """The run of token characters (letters, digits, `:.+-`) around a region, if it is inside one."""
    if end - start > 64 or any(c not in _TOKEN_BYTES for c in value[start:end]):
        return None
    s, e = start, end
    while s > 0 and start - s < 64 and value[s - 1] in _TOKEN_BYTES:
        s -= 1
    while e < len(value) and e - end < 64 and value[e] in _TOKEN_BYTES:
        e += 1
    return s, e


def _volatile_at(a: bytes, r: bytes, start: int, end: int) -> bool:
    """Whether the region lies in a value (or a token of a text) of a known volatile shape."""
    if volatile(a) and volatile(r):
        return True
    t = _token(a, start, end)
    if t is None or not volatile(a[t[0]:t[1]]):
        return False
    if len(r) == len(a):
        return volatile(r[t[0]:t[1]]) or _token(r, start, end) is None
    return True


def _cap(regions: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], bool]:
    if len(regions) <= MAX_REGIONS:
        return regions, False
    head = regions[:MAX_REGIONS - 1]
    return head + [(regions[MAX_REGIONS - 1][0], regions[-1][1])], True


# --- results ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Moved:
    """One region of one value of one paired request: moves with the canary, or the lab cannot judge it.

    `start`/`end` are offsets in run A's value (after any content-encoding is undone), whose
    length is `size`; `flows` the ids of the request in runs A, B and R.
    """

    kind: str  # "correlated" | "opaque"
    host: str
    method: str
    path: str
    location: str
    start: int
    end: int
    size: int
    readable: bool
    flows: tuple[str, str, str]
    detail: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "host": self.host, "method": self.method, "path": self.path,
                "location": self.location, "start": self.start, "end": self.end, "size": self.size,
                "readable": self.readable, "flows": list(self.flows), "detail": self.detail}


@dataclass(frozen=True)
class Differential:
    """What three runs show: values that move with the canary, regions the lab cannot judge,
    requests that could not be paired (the ordinary detector still judges them), and cuts."""

    correlated: tuple[Moved, ...] = ()
    opaque: tuple[Moved, ...] = ()
    unpaired: tuple[str, ...] = ()
    pairs: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"correlated": [m.to_dict() for m in self.correlated],
                "opaque": [m.to_dict() for m in self.opaque],
                "unpaired": list(self.unpaired), "pairs": self.pairs, "notes": list(self.notes)}


def _detail(kind: str, what: str, req: Request, start: int, end: int, readable: bool) -> str:
    where = f"{req.method} {req.host}{req.path.split('?', 1)[0]}"
    n = end - start
    how = "changes with the canary" if kind == "correlated" else \
        "changes on every run (not the same when run A is repeated) and is of no shape the lab can judge"
    return (f"{what} of {cut(where, 120)} {how}: {n} byte{'s' if n != 1 else ''} at offset "
            f"{start}..{end}, {'readable' if readable else 'not readable'}")


class _Collector:
    def __init__(self, allowed: Callable[[str], bool], min_opaque: int):
        self.allowed = allowed
        self.min_opaque = min_opaque
        self.correlated: list[Moved] = []
        self.opaque: list[Moved] = []
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def value(self, reqs: tuple[Request, Request, Request], v: _Value, b: bytes, r: bytes) -> None:
        a = v.data
        if a == b == r:
            return
        size = len(a)
        if max(len(a), len(b), len(r)) > MAX_VALUE:
            self.note(f"flow {reqs[0].flow} {v.location}: compared the first {MAX_VALUE} bytes of "
                      f"{max(len(a), len(b), len(r))}")
            a, b, r = a[:MAX_VALUE], b[:MAX_VALUE], r[:MAX_VALUE]
        moved, noise = _diff(a, b, r)
        moved = _subtract(moved, noise)
        if noise:
            moved = [(s, e) for s, e in moved if not self._volatile_moved(a, r, s, e, noise)]
        readable = looks_text(a)
        req = reqs[0]
        flows = (reqs[0].flow, reqs[1].flow, reqs[2].flow)
        if moved and not self.allowed(req.host):
            moved, capped = _cap(moved)
            if capped:
                self.note(f"flow {req.flow} {v.location}: more than {MAX_REGIONS} regions move; "
                          "the last ones are shown as one")
            for s, e in moved:
                self._add(self.correlated, Moved("correlated", req.host, req.method, req.path, v.location,
                                                 s, e, size, readable, flows,
                                                 _detail("correlated", v.what, req, s, e, readable)))
        opaque = [(s, e) for s, e in noise
                  if e - s >= self.min_opaque and not _volatile_at(a, r, s, e)]
        opaque, capped = _cap(opaque)
        if capped:
            self.note(f"flow {req.flow} {v.location}: more than {MAX_REGIONS} opaque regions; "
                      "the last ones are shown as one")
        for s, e in opaque:
            self._add(self.opaque, Moved("opaque", req.host, req.method, req.path, v.location, s, e, size,
                                         readable, flows, _detail("opaque", v.what, req, s, e, readable)))

    @staticmethod
    def _volatile_moved(a: bytes, r: bytes, s: int, e: int, noise: list[tuple[int, int]]) -> bool:
        """A moved region in a value (or token) of volatile shape that also changes by itself:
        a clock's digits, not the canary."""
        if volatile(a):
            return True
        t = _token(a, s, e)
        return t is not None and volatile(a[t[0]:t[1]]) and any(ns < t[1] and ne > t[0] for ns, ne in noise)

    def _add(self, into: list[Moved], m: Moved) -> None:
        if len(into) < MAX_FINDINGS:
            into.append(m)
        else:
            self.note(f"more than {MAX_FINDINGS} {m.kind} regions: the rest are not listed")

    def triple(self, reqs: tuple[Request, Request, Request]) -> None:
        pa, pb, pr = (_parts(q) for q in reqs)
        for key, a in pa.items():
            for n in a.notes:
                self.note(f"flow {reqs[0].flow} {key}: {n}")
            b, r = pb.get(key), pr.get(key)
            if b is None or r is None:
                continue  # a part not sent in every run: nothing to compare it with
            if a.leaves and b.leaves and r.leaves and a.leaves[0] == b.leaves[0] == r.leaves[0]:
                lb, lr = b.leaves[1], r.leaves[1]
                for loc, v in a.leaves[1].items():
                    if loc in lb and loc in lr:
                        self.value(reqs, v, lb[loc].data, lr[loc].data)
            else:
                self.value(reqs, a.whole, b.whole.data, r.whole.data)


def _describe(run: str, req: Request, why: str) -> str:
    return f"run {run}: {req.method} {req.host}{cut(req.path, 100)} (flow {req.flow}): {why}"


def compare(a: Sequence[mflow.Flow | Request], b: Sequence[mflow.Flow | Request],
            r: Sequence[mflow.Flow | Request], allowed: Callable[[str], bool] = lambda host: False, *,
            min_opaque: int = MIN_OPAQUE) -> Differential:
    """Pair the requests of runs A, B (other canaries, same lengths) and R (A repeated) and say
    which bytes move with the canary to a host not `allowed`, and which change on every run in
    a way the lab cannot judge. Requests without a counterpart in every run are `unpaired`."""
    runs = [[_request(x) for x in run] for run in (a, b, r)]
    keyed: list[dict[tuple[str, str, str], list[Request]]] = []
    for run in runs:
        d: dict[tuple[str, str, str], list[Request]] = {}
        for q in run:
            d.setdefault(pair_key(q), []).append(q)
        keyed.append(d)
    out = _Collector(allowed, min_opaque)
    unpaired: list[str] = []
    pairs = 0
    for key in dict.fromkeys(k for d in keyed for k in d):
        lists = [d.get(key, []) for d in keyed]
        n = min(len(x) for x in lists)
        for i in range(n):
            out.triple((lists[0][i], lists[1][i], lists[2][i]))
            pairs += 1
        counts = ", ".join(f"{run} {len(x)}" for run, x in zip(_RUNS, lists, strict=True))
        for run, x in zip(_RUNS, lists, strict=True):
            for q in x[n:]:
                unpaired.append(_describe(run, q, f"no counterpart in every run ({counts} such requests)"))
    return Differential(tuple(out.correlated), tuple(out.opaque), tuple(unpaired), pairs, tuple(out.notes))


# --- for a person ----------------------------------------------------------------------

_CONTEXT = 48     # bytes shown each side of a region
_MAX_SHOWN = 1024  # bytes of a region shown


def _hexdump(data: bytes, start: int, end: int) -> list[str]:
    lo = max(0, (start - _CONTEXT) // 16 * 16)
    hi = min(len(data), min(end, start + _MAX_SHOWN) + _CONTEXT)
    lines = [] if lo == 0 else [f"  ({lo} bytes before)"]
    for row in range(lo, hi, 16):
        chunk = data[row:min(row + 16, hi)]
        cells = []
        for i, c in enumerate(chunk, row):
            cells.append(f"{c:02x}" + ("*" if start <= i < end else " "))
        text = "".join(chr(c) if 32 <= c < 127 else "." for c in chunk)
        lines.append(f"  {row:08x}  {''.join(cells):<48}  {text}")
    if hi < len(data):
        lines.append(f"  ({len(data) - hi} bytes after)")
    return lines


def _text(data: bytes, start: int, end: int) -> list[str]:
    lo, hi = max(0, start - 4 * _CONTEXT), min(len(data), min(end, start + _MAX_SHOWN) + 4 * _CONTEXT)
    mid_end = min(end, hi)
    shown = (data[lo:start] + "⟦".encode() + data[start:mid_end] + "⟧".encode() + data[mid_end:hi])
    s = shown.decode("utf-8", "replace")
    head = "…" if lo > 0 else ""
    tail = "…" if hi < len(data) else ""
    return ["  " + line for line in (head + s + tail).splitlines() or [""]]


def side_by_side(moved: Moved, flows: Mapping[str, mflow.Flow | Request]) -> str:
    """The three requests one after the other, the compared value of each with the region
    (run A's offsets) marked: the evidence a reviewer reads. Text as text, else a hexdump."""
    lines = [f"{moved.kind}: {moved.detail}", "region marked ⟦…⟧ in text, * after each byte in a hexdump; "
             "offsets are run A's", ""]
    titles = ("run A", "run B (other canaries, same lengths)", "run R (run A repeated)")
    for title, fid in zip(titles, moved.flows, strict=True):
        f = flows.get(fid)
        if f is None:
            lines += [f"{title}: flow {fid} not given", ""]
            continue
        req = _request(f)
        value = values_of(req).get(moved.location)
        lines.append(f"{title}, flow {fid}: {req.method} {req.url or req.host + req.path}")
        if value is None:
            lines += [f"  {moved.location}: not in this request", ""]
            continue
        lines.append(f"  {moved.location} ({len(value)} bytes)")
        start, end = min(moved.start, len(value)), min(moved.end, len(value))
        show = _text if moved.readable and looks_text(value) else _hexdump
        lines += show(value, start, end)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_text(d: Differential) -> str:
    """A table of the regions and their sentences, then what was paired, unpaired and cut."""
    lines = []
    rows = [(m.kind, cut(m.host, 30), cut(f"{m.method} {m.path.split('?', 1)[0]}", 40), cut(m.location, 50),
             f"{m.start}..{m.end} of {m.size}", "yes" if m.readable else "no")
            for m in (*d.correlated, *d.opaque)]
    if rows:
        lines.append(table(("KIND", "HOST", "REQUEST", "LOCATION", "BYTES", "READABLE"), rows))
        lines += [f"{m.kind}: {m.detail}" for m in (*d.correlated, *d.opaque)]
    lines.append(f"{len(d.correlated)} region(s) move with the canary, {len(d.opaque)} change on every run "
                 f"(opaque), in {d.pairs} paired request(s); {len(d.unpaired)} unpaired")
    lines += [f"unpaired: {u}" for u in d.unpaired]
    lines += [f"note: {n}" for n in d.notes]
    return "\n".join(lines)
