"""Decoded views of one sent part: the tree of everything its bytes decode to.

A part (a URL, a header, a body) is the root; each decoding step (gzip, a
JSON field, a base64 blob...) adds a child view. Every view that holds bytes
its parent does not show (decompressed, decoded) is matched; a view that is
only a slice of its parent (a JSON field, a form field left as is) is matched
only when its parent had a hit, to say more precisely where. So each byte is
matched about once, and a hit still gets the most precise location.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from telltale.detect import decoders as dec
from telltale.detect.matcher import Hit
from telltale.detect.model import Limits, Part

MAX_BLOBS_PER_VIEW = 256
MAX_LEAVES = 20000


@dataclass
class View:
    data: bytes
    location: str
    chain: tuple[str, ...]
    parent: int  # index of the parent view, -1 for a root
    depth: int
    transparent: bool  # a slice of the parent as is: the parent's match covers it
    content_encoding: str = ""
    content_type: str = ""
    kind: str = "raw"  # raw | url | cookies


@dataclass
class Child:
    data: bytes
    label: str  # how the location names this step ("json $.a", "gzip")
    step: str  # the chain's name for it ("json", "gzip")
    transparent: bool = False
    content_encoding: str = ""
    content_type: str = ""
    kind: str = "raw"


@dataclass
class Budget:
    """What one flow may still cost; what was cut short is noted, never silently dropped."""

    limits: Limits
    bytes_left: int = 0
    views_left: int = 0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, limits: Limits) -> Budget:
        return cls(limits, limits.max_flow_bytes, limits.max_views)

    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _decoded(view: View, d: dec.Decoded, what: str, budget: Budget) -> None:
    if d.capped:
        budget.note(f"{view.location}: {what} output capped at {_mib(budget.limits.max_output)}")
    elif d.error and d.data:
        budget.note(f"{view.location}: {what} stream damaged or cut off after {len(d.data)} bytes "
                    f"({d.error}); the part before was scanned")


def _decompress(view: View, budget: Budget) -> list[Child] | None:
    encs = [e.strip().lower() for e in view.content_encoding.split(",")]
    encs = [e for e in encs if e and e != "identity"]
    cap = min(budget.limits.max_output, budget.bytes_left)
    if encs:
        name = "gzip" if encs[-1] == "x-gzip" else encs[-1]
        fn = dec.DECOMPRESSORS.get(name)
        if fn is not None:
            d = fn(view.data, cap)
            if d.data or not d.error:
                _decoded(view, d, name, budget)
                return [Child(d.data, name, name, content_encoding=", ".join(encs[:-1]),
                              content_type=view.content_type)]
    name = dec.sniff_compression(view.data)
    if name is not None:
        d = dec.DECOMPRESSORS[name](view.data, cap)
        if d.data:
            _decoded(view, d, name, budget)
            return [Child(d.data, name, name, content_type=view.content_type)]
    return None


def _try_headerless(view: View, budget: Budget) -> list[Child] | None:
    """Binary with no magic may still be brotli or raw deflate sent without a header: try, strictly."""
    cap = min(budget.limits.max_output, budget.bytes_left)
    for name, fn in (("br", dec.unbrotli), ("deflate", dec.inflate_raw)):
        d = fn(view.data, cap)
        if d.data and (d.capped or not d.error):  # a whole, valid stream: noise rarely is one
            _decoded(view, d, name, budget)
            return [Child(d.data, name, name, content_type=view.content_type)]
    return None


def _url_children(data: bytes, limits: Limits) -> list[Child]:
    rest = data.split(b"#", 1)
    url, fragment = rest[0], rest[1] if len(rest) > 1 else b""
    path, _, query = url.partition(b"?")
    out = []
    after_scheme = path.split(b"://", 1)[-1]
    for i, seg in enumerate(after_scheme.split(b"/")[1:], 1):
        if len(seg) >= limits.min_blob or b"%" in seg:
            decoded = dec.urldecode(seg)
            out.append(Child(decoded, f"path[{i}]", "path", transparent=decoded == seg))
    for name, raw, value in dec.query_fields(query):
        out.append(Child(value, f"query {name.decode('utf-8', 'replace')}", "query",
                         transparent=raw == value))
    if fragment:
        decoded = dec.urldecode(fragment)
        out.append(Child(decoded, "fragment", "fragment", transparent=decoded == fragment))
    return out


def _score(d: dec.Decoded) -> float:
    """How much a decode looks like data rather than noise: magic bytes, else printable share."""
    if not d.data:
        return -1.0
    if dec.sniff_compression(d.data):
        return 2.0
    sample = d.data[:512]
    ok = [32 <= b < 127 or b in (9, 10, 13) for b in sample]
    lead = ok.index(False) if False in ok else len(ok)  # text that starts right: the blob's start
    return (lead + sum(ok)) / (2 * len(sample))


def _b64_decodes(run: bytes, cap: int) -> list[tuple[dec.Decoded, str]]:
    """Decode a blob as it starts; if that is not clearly data, also the other alignment that is.

    A run of base64 characters may start with a few that are not the blob's
    (a path's `v1/`, a word before it): then one of the 3 other starts gives
    more text or compressed data. Binary (protobuf, raw deflate) looks no
    better in any alignment, so the first decode is always kept too.
    """
    out: list[tuple[dec.Decoded, str]] = []
    if dec.HEX_DIGITS.fullmatch(run):
        if len(run) % 2 == 0:
            out.append((dec.hexdecode(run, cap), "hex"))
        else:  # one character too many: a neighbour (a length byte, a word) joined the run
            out += [(dec.hexdecode(run[1:], cap), "hex"), (dec.hexdecode(run[:-1], cap), "hex")]
        if len(run) >= 16:
            return out
    first = dec.b64decode(run, cap)
    out.append((first, "base64"))
    if _score(first) < 0.95 and len(run) < 65536:
        best, best_score = None, -0.5
        for skip in (1, 2, 3):
            d = dec.b64decode(run[skip:], cap)
            sc = _score(d)
            if sc > best_score:
                best, best_score = d, sc
        if best is not None:
            out.append((best, "base64"))
    return out


def _leaf_children(view: View, budget: Budget, text: bool) -> list[Child]:
    data, out = view.data, []
    if b"\\" in data and b'"' in data:  # escaped JSON inside other text or bytes: undo the escapes
        for p, v in dec.embedded_json(data, MAX_LEAVES) or ():
            out.append(Child(v.encode("utf-8", "surrogatepass"), f"json {p}", "json"))
    if dec.PCT.search(data):
        # "+" is a space in forms and a "+" in URL-encoded base64: when present, take both readings
        for plus in (False, True) if b"+" in data else (False,):
            decoded = dec.urldecode(data, plus=plus)
            if decoded != data:
                out.append(Child(decoded, "urldecode", "url"))
    if not text:  # a gzip or zstd stream inside a binary container: found by its magic
        for name, off in dec.embedded_streams(data):
            d = dec.DECOMPRESSORS[name](data[off:], min(budget.limits.max_output, budget.bytes_left))
            if d.data:
                _decoded(view, d, name, budget)
                out.append(Child(d.data, f"{name}@{off}", name))
    for n, run in enumerate(dec.blob_runs(data, budget.limits.min_blob)):
        if n >= MAX_BLOBS_PER_VIEW:
            budget.note(f"{view.location}: more than {MAX_BLOBS_PER_VIEW} encoded blobs; the rest not decoded")
            break
        for d, step in _b64_decodes(run, min(budget.limits.max_output, budget.bytes_left)):
            if d.data:
                _decoded(view, d, step, budget)
                out.append(Child(d.data, step, step))
    return out


def expand(view: View, budget: Budget) -> list[Child]:
    """The views one decoding step below `view`: structure first, then encoded blobs."""
    data = view.data
    if view.kind == "url":
        return _url_children(data, budget.limits)
    if view.kind == "cookies":
        return [Child(v, f"cookie {n.decode('utf-8', 'replace')}", "cookie", transparent=True)
                for n, v in dec.cookies(data)]
    if len(data) < 4:
        return []
    found = _decompress(view, budget)
    if found is not None:
        return found
    parts = dec.multipart(data, view.content_type)
    if parts:
        out = []
        for p in parts:
            body, transparent = p.body, True
            if p.headers.get("content-transfer-encoding", "").lower() == "base64":
                body, transparent = dec.b64decode(b"".join(body.split()), budget.limits.max_output).data, False
            out.append(Child(body, f"multipart {p.name}", "multipart", transparent,
                             p.headers.get("content-encoding", ""), p.headers.get("content-type", "")))
        return out
    text = dec.looks_text(data)
    if text:
        leaves = dec.json_leaves(data, MAX_LEAVES)
        if leaves is not None:
            transparent = b"\\" not in data  # escapes the match variants may not cover: match leaves too
            return [Child(v.encode("utf-8", "surrogatepass"), f"json {p}", "json", transparent)
                    for p, v in leaves]
        fields = dec.form_fields(data, "x-www-form-urlencoded" in view.content_type.lower())
        if fields:
            out = []
            for name, raw, value in fields:
                label = f"form {name.decode('utf-8', 'replace')}"
                if len(name) >= budget.limits.min_blob:  # a long name can be data too
                    out.append(Child(name, label + " (name)", "form", False))
                out.append(Child(value, label, "form", raw == value))
            return out
    pb = dec.protobuf_fields(data)
    if pb:
        fields = [Child(v, f"protobuf {n}", "protobuf", transparent=True) for n, v in pb]
        # protobuf of strings can pass for text, and text can pass for protobuf: read text both ways
        return fields + _leaf_children(view, budget, text) if text else fields
    if not text:
        found = _try_headerless(view, budget)
        if found is not None:
            return found
    return _leaf_children(view, budget, text)


def examine(part: Part, scan: Callable[[bytes], list[Hit]], budget: Budget,
            views: list[View]) -> list[tuple[int, Hit]]:
    """Decode `part` into views (appended to `views`) and match each one that needs it."""
    root = View(part.data, part.location, (), -1, 0, False, part.content_encoding, part.content_type,
                part.kind)
    hits: list[tuple[int, Hit]] = []
    had_hit: dict[int, bool] = {}
    stack = [root]
    limits = budget.limits
    while stack:
        v = stack.pop()
        idx = len(views)
        views.append(v)
        matched = not v.transparent or had_hit.get(v.parent, False)
        found = scan(v.data) if matched else []
        had_hit[idx] = bool(found)
        hits.extend((idx, h) for h in found)
        children = expand(v, budget)
        if not children:
            continue
        if v.depth >= limits.max_depth:
            budget.note(f"{v.location}: nested deeper than {limits.max_depth} steps; not decoded further")
            continue
        new = []
        for c in children:
            cost = 0 if c.transparent else len(c.data)
            if budget.views_left <= 0 or cost > budget.bytes_left:
                budget.note(f"{v.location}: decoding budget of the flow spent "
                            f"({limits.max_views} views, {_mib(limits.max_flow_bytes)}); rest not decoded")
                break
            budget.views_left -= 1
            budget.bytes_left -= cost
            sep = " " if v.parent < 0 else " > "
            new.append(View(c.data, f"{v.location}{sep}{c.label}", v.chain + (c.step,), idx, v.depth + 1,
                            c.transparent, c.content_encoding, c.content_type, c.kind))
        stack.extend(reversed(new))
    return hits
