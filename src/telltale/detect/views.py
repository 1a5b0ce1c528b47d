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
_LATER = object()  # a view matched when examine reaches it


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
    structural: bool = False  # a field of its parent: only worth a view if it hides more, or for a hit


@dataclass
class Budget:
    """What one flow may still cost; what was cut short is noted, never silently dropped."""

    limits: Limits
    bytes_left: int = 0
    views_left: int = 0
    notes: list[str] = field(default_factory=list)
    noted: int = 0  # note() calls, repeats included

    @classmethod
    def of(cls, limits: Limits) -> Budget:
        return cls(limits, limits.max_flow_bytes, limits.max_views)

    def note(self, msg: str) -> None:
        self.noted += 1
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
    encs: list[str] = []
    if view.content_encoding:
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
        if _real_stream(name, d):
            _decoded(view, d, name, budget)
            return [Child(d.data, name, name, content_type=view.content_type)]
    return None


def _real_stream(name: str, d: dec.Decoded) -> bool:
    """A sniffed stream worth a view: zlib's 2-byte header occurs in noise, so a broken one must
    have given some output first (and its damage is then worth a note)."""
    if not d.data:
        return False
    return name != "deflate" or not d.error or len(d.data) >= 64


def _headerless(data: bytes, cap: int, brotli: bool = True) -> tuple[str, dec.Decoded] | None:
    """Brotli or raw deflate sent with no header (no magic): accepted only as a whole, valid stream."""
    for name, fn in (("deflate", dec.inflate_raw), ("br", dec.unbrotli))[: 2 if brotli else 1]:
        d = fn(data, cap)
        if d.data and (d.capped or not d.error):  # noise is rarely one whole valid stream
            return name, d
    return None


def _try_headerless(view: View, budget: Budget) -> list[Child] | None:
    if len(view.data) < 8 or (view.chain and view.chain[-1] not in (
            "base64", "hex", "multipart", "url", "gzip", "deflate", "zstd", "br")):
        return None
    whole = not view.chain or view.chain[-1] == "multipart"  # a body, a message, a part
    found = _headerless(view.data, min(budget.limits.max_output, budget.bytes_left), brotli=whole)
    if found is None:
        return None
    name, d = found
    _decoded(view, d, name, budget)
    return [Child(d.data, name, name, content_type=view.content_type)]


def _url_children(data: bytes, limits: Limits) -> list[Child]:
    rest = data.split(b"#", 1)
    url, fragment = rest[0], rest[1] if len(rest) > 1 else b""
    path, _, query = url.partition(b"?")
    out = []
    after_scheme = path.split(b"://", 1)[-1]
    for i, seg in enumerate(after_scheme.split(b"/")[1:], 1):
        if len(seg) >= limits.min_blob or b"%" in seg:
            decoded = dec.urldecode(seg)
            out.append(Child(decoded, f"path[{i}]", "path", transparent=decoded == seg, structural=True))
    for name, raw, value in dec.query_fields(query):
        out.append(Child(value, f"query {name.decode('utf-8', 'replace')}", "query",
                         transparent=raw == value, structural=True))
    if fragment:
        decoded = dec.urldecode(fragment)
        out.append(Child(decoded, "fragment", "fragment", transparent=decoded == fragment, structural=True))
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


def _plausible(d: dec.Decoded, from_hex: bool = False) -> bool:
    """Whether a decoded blob is data worth decoding further, not the noise an ID decodes to.

    Noise needs no view: a canary inside it was already matched in the blob's
    own encoded form (the base64 and hex variants).
    """
    data = d.data
    if len(data) < 4:
        return False
    if d.capped or dec.sniff_compression(data) or dec.looks_text(data):
        return True
    if dec.embedded_streams(data) or dec.protobuf_fields(data):
        return True
    if dec.has_blob_run(data, 8):  # noise seldom has 8 base64 characters in a row
        return True
    if dec.JSON_START.search(data) is not None:  # JSON inside a binary record
        return True
    # raw deflate with no header (cheap to try); brotli with no header only as a whole body
    return not from_hex and len(data) >= 8 and _headerless(data, 1 << 16, brotli=False) is not None


def _b64_decodes(run: bytes, cap: int) -> list[tuple[dec.Decoded, str]]:
    """Decodes of a blob that give data: hex, base64 as it starts, or base64 from a later start.

    A run of base64 characters may start with a few that are not the blob's
    (a path's `v1/`, a word, a length byte): then one of the 3 other starts
    gives text or compressed data.
    """
    out: list[tuple[dec.Decoded, str]] = []
    if dec.HEX_DIGITS.fullmatch(run):
        cands = [run] if len(run) % 2 == 0 else [run[1:], run[:-1]]  # a neighbour joined the run
        out += [(d, "hex") for d in (dec.hexdecode(c, cap) for c in cands) if _plausible(d, from_hex=True)]
        if out or len(run) >= 16:
            return out
    first = dec.b64decode(run, cap)
    if _plausible(first):
        return out + [(first, "base64")]
    if len(run) >= 16:  # other starts: kept only if clearly text or compressed (cheap to tell)
        scored = [(d, _score(d)) for d in (dec.b64decode(run[k:], cap) for k in (1, 2, 3))]
        d, sc = max(scored, key=lambda x: x[1])
        if sc >= 0.75:
            out.append((d, "base64"))
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
            if _real_stream(name, d):
                _decoded(view, d, name, budget)
                out.append(Child(d.data, f"{name}@{off}", name))
    for n, run in enumerate(dec.blob_runs(data, budget.limits.min_blob)):
        if n >= MAX_BLOBS_PER_VIEW:
            budget.note(f"{view.location}: more than {MAX_BLOBS_PER_VIEW} encoded blobs; "
                        "the rest not decoded")
            break
        for d, step in _b64_decodes(run, min(budget.limits.max_output, budget.bytes_left)):
            if d.data:
                _decoded(view, d, step, budget)
                out.append(Child(d.data, step, step))
    return out


def _json_wanted(doc: bytes, min_blob: int) -> Callable[[str], bool] | None:
    """Which strings of a JSON document may hide more: those holding one of its blobs, escapes, %-escapes."""
    runs = list(dict.fromkeys(r.decode("ascii") for r in dec.blob_runs(doc, min_blob)))
    escapes = b"\\" in doc
    pct = dec.PCT.search(doc) is not None
    if not (runs or escapes or pct):
        return None

    odd = escapes and dec.NEEDLESS_ESCAPE.search(doc) is not None  # letters escaped: every string

    def want(v: str) -> bool:
        if len(v) < 4:
            return False
        if odd or (escapes and dec.JSON_PLAIN.fullmatch(v) is None):
            return True
        if len(v) < min_blob:
            return False
        if (pct and "%" in v) or v[:1] in ("{", "["):
            return True
        for r in runs:
            if r in v:
                return True
        return False
    return want


def expand(view: View, budget: Budget, hit: bool = True) -> list[Child]:
    """The views one decoding step below `view`: structure first, then encoded blobs.

    `hit`: the view's match found something, so its fields are wanted to say where.
    """
    data = view.data
    if view.kind == "url":
        return _url_children(data, budget.limits)
    if view.kind == "cookies":
        return [Child(v, f"cookie {n.decode('utf-8', 'replace')}", "cookie", transparent=True,
                      structural=True) for n, v in dec.cookies(data)]
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
                body = dec.b64decode(b"".join(body.split()), budget.limits.max_output).data
                transparent = False
            out.append(Child(body, f"multipart {p.name}", "multipart", transparent,
                             p.headers.get("content-encoding", ""), p.headers.get("content-type", "")))
        return out
    text = dec.looks_text(data)
    if text:
        if data[:64].lstrip()[:1] in (b"{", b"[") and not hit:
            # Without a hit, only strings that may hide more are worth a view (the rest was matched as is)
            want = _json_wanted(data, budget.limits.min_blob)
            if want is None:
                return []  # no blob, no escape, no %-escape anywhere: nothing more to see
            leaves = dec.json_leaves(data, MAX_LEAVES, want)
        else:
            leaves = dec.json_leaves(data, MAX_LEAVES)
        if leaves is not None:
            # A leaf is a slice of the document when nothing in it needed escaping, unless the
            # encoder escapes even plain letters (obfuscation): then every leaf is matched.
            odd = b"\\" in data and dec.NEEDLESS_ESCAPE.search(data) is not None
            return [Child(v.encode("utf-8", "surrogatepass"), f"json {p}", "json",
                          transparent=not odd and (b"\\" not in data
                                                   or dec.JSON_PLAIN.fullmatch(v) is not None),
                          structural=True)
                    for p, v in leaves]
        fields = dec.form_fields(data, "x-www-form-urlencoded" in view.content_type.lower())
        if fields:
            out = []
            for name, raw, value in fields:
                label = f"form {name.decode('utf-8', 'replace')}"
                if len(name) >= budget.limits.min_blob:  # a long name can be data too
                    out.append(Child(name, label + " (name)", "form", False, structural=True))
                out.append(Child(value, label, "form", raw == value, structural=True))
            return out
    pb = dec.protobuf_fields(data)
    if pb:
        fields = [Child(v, f"protobuf {n}", "protobuf", transparent=True, structural=True) for n, v in pb]
        # protobuf of strings can pass for text, and text can pass for protobuf: read text both ways
        return fields + _leaf_children(view, budget, text) if text else fields
    if not text:
        found = _try_headerless(view, budget)
        if found is not None:
            return found
    return _leaf_children(view, budget, text)


def examine(part: Part, scan: Callable[[bytes], list[Hit]], budget: Budget, views: list[View],
            scan_many: Callable[[list[bytes]], list[list[Hit]]] | None = None,
            root_hits: list[Hit] | None = None) -> list[tuple[int, Hit]]:
    """Decode `part` into views (appended to `views`) and match each one that needs it.

    `scan_many` (what `[scan(d) for d in datas]` gives, in fewer calls) matches the views one
    step below a view together, when they are made; `root_hits`: the part's own match, if
    already made.
    """
    root = View(part.data, part.location, (), -1, 0, False, part.content_encoding, part.content_type,
                part.kind)
    hits: list[tuple[int, Hit]] = []
    # (view, its hits; None: not matched; _LATER: matched when it is reached)
    stack: list[tuple[View, list[Hit] | None | object]] = [(root, _LATER if root_hits is None else root_hits)]
    limits = budget.limits
    min_blob = limits.min_blob
    while stack:
        v, found = stack.pop()
        idx = len(views)
        views.append(v)
        if found is _LATER:
            found = scan(v.data)
        hit = bool(found)
        if found:
            hits.extend([(idx, h) for h in found])  # type: ignore[union-attr]
        children = expand(v, budget, hit)
        if not children:
            continue
        if v.depth >= limits.max_depth:
            budget.note(f"{v.location}: nested deeper than {limits.max_depth} steps; not decoded further")
            continue
        new = []
        for c in children:
            if (c.structural and c.transparent and not hit
                    and not dec.may_hide(c.data, min_blob)):
                continue  # a plain field its parent's match already covered: no view needed
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
        # a transparent view (a slice of its parent as is) is matched only when its parent had a hit
        wanted = [hit or not w.transparent for w in new]
        if scan_many is not None and sum(wanted) > 1:
            results = iter(scan_many([w.data for w, want in zip(new, wanted, strict=True) if want]))
            entries = [(w, next(results) if want else None) for w, want in zip(new, wanted, strict=True)]
        else:
            entries = [(w, _LATER if want else None) for w, want in zip(new, wanted, strict=True)]
        stack.extend(reversed(entries))
    return hits
