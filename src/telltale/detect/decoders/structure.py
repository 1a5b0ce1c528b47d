"""Structure: URLs, cookies, JSON documents and forms, taken apart into their fields.

A field that is its parent's bytes as they are is transparent: the parent's
match already covered it, so it is matched again only to say more precisely
where a hit is, or when it may hide more (a blob, an escape).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, View
from telltale.detect.decoders.text import PCT, blob_runs, urldecode

MAX_LEAVES = 20000
# escapes no encoder needs (letters, digits as \u00XX): the document hides its text on purpose
NEEDLESS_ESCAPE = re.compile(rb"\\u00(?:3[0-9]|4[1-9a-fA-F]|5[0-9aA]|6[1-9a-fA-F]|7[0-9aA])")
JSON_PLAIN = re.compile(r"[ !#-.0-\[\]-~]*")  # printable ASCII that no JSON encoder escapes


# --- JSON --------------------------------------------------------------------

def _path(keys: tuple) -> str:
    out = "$"
    for k in keys:
        if isinstance(k, int):
            out += f"[{k}]"
        elif _PLAIN_KEY.fullmatch(k):
            out += f".{k}"
        else:
            out += f"[{json.dumps(k)}]"
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z_][\w-]*")


def _leaves(doc: object, max_leaves: int, want: Callable[[str], bool] | None = None) -> list[tuple[str, str]]:
    """(JSONPath, text) of the strings of `doc` that `want` (all by default), in document order."""
    out: list[tuple[str, str]] = []
    if max_leaves <= 0:
        return out
    try:
        _walk(doc, (), max_leaves, want, out)
        return out
    except (RecursionError, _Enough):
        if len(out) >= max_leaves:
            return out
    return _leaves_iter(doc, max_leaves, want)


class _Enough(Exception):
    pass


def _walk(node: object, keys: tuple, max_leaves: int, want: Callable[[str], bool] | None,
          out: list[tuple[str, str]]) -> None:
    """`_leaves_iter` by recursion: a leaf's path is made only when the leaf is wanted."""
    items = node.items() if type(node) is dict else enumerate(node) if type(node) is list else None
    if items is None:
        if type(node) is str and (want is None or want(node)):
            out.append((_path(keys), node))
            if len(out) >= max_leaves:
                raise _Enough
        return
    for k, v in items:
        t = type(v)
        if t is str:
            if want is None or want(v):
                out.append((_path(keys + (k,)), v))
                if len(out) >= max_leaves:
                    raise _Enough
        elif t is dict or t is list:
            _walk(v, keys + (k,), max_leaves, want, out)


def _leaves_iter(doc: object, max_leaves: int,
                 want: Callable[[str], bool] | None = None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    stack: list[tuple[tuple, object]] = [((), doc)]
    while stack and len(out) < max_leaves:
        keys, node = stack.pop()
        if isinstance(node, str):
            if want is None or want(node):
                out.append((_path(keys), node))
        elif isinstance(node, dict):
            stack.extend((keys + (k,), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((keys + (i,), node[i]) for i in range(len(node) - 1, -1, -1))
    return out


def _loads(text: str) -> object:
    return json.loads(text, parse_int=str, parse_float=str, parse_constant=str)


def json_leaves(data: bytes, max_leaves: int,
                want: Callable[[str], bool] | None = None) -> list[tuple[str, str]] | None:
    """(JSONPath, text) of the strings and numbers of a JSON document `want`s; None if not JSON."""
    head = data[:64].lstrip()
    if head[:1] not in (b"{", b"["):
        return None
    try:
        return _leaves(_loads(data.decode("utf-8")), max_leaves, want)
    except (ValueError, RecursionError):
        return None


_EMBEDDED = re.compile(r'[{\[]\s*"')


def embedded_json(data: bytes, max_leaves: int, max_tries: int = 8) -> list[tuple[str, str]] | None:
    """Leaves of JSON objects inside a larger text (`data={...}`, log lines): escapes undone."""
    text = data.decode("utf-8", "surrogateescape")
    decoder = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)
    out: list[tuple[str, str]] = []
    pos = 0
    for _ in range(max_tries):
        m = _EMBEDDED.search(text, pos)
        if not m:
            break
        try:
            doc, end = decoder.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            pos = m.start() + 1
            continue
        out += _leaves(doc, max_leaves - len(out))
        pos = end
    return out or None


def _json_wanted(doc: bytes, min_blob: int) -> Callable[[str], bool] | None:
    """Which strings of a JSON document may hide more: those holding one of its blobs, escapes, %-escapes."""
    runs = list(dict.fromkeys(r.decode("ascii") for r in blob_runs(doc, min_blob)))
    escapes = b"\\" in doc
    pct = PCT.search(doc) is not None
    if not (runs or escapes or pct):
        return None

    odd = escapes and NEEDLESS_ESCAPE.search(doc) is not None  # letters escaped: every string

    def want(v: str) -> bool:
        if len(v) < 4:
            return False
        if odd or (escapes and JSON_PLAIN.fullmatch(v) is None):
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


@dataclass(frozen=True)
class Json:
    """The strings of a JSON document; after no hit, only those that may hide more (the rest was
    matched as it is)."""

    name: str = "json"
    headerless: bool = False

    def applies(self, view: View) -> bool:
        return view.text and view.data[:64].lstrip()[:1] in (b"{", b"[")

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        data = view.data
        if view.hit:
            leaves = json_leaves(data, MAX_LEAVES)
        else:
            want = _json_wanted(data, budget.limits.min_blob)
            if want is None:
                return []  # no blob, no escape, no %-escape anywhere: nothing more to see
            leaves = json_leaves(data, MAX_LEAVES, want)
        if leaves is None:
            return None
        # A leaf is a slice of the document when nothing in it needed escaping, unless the
        # encoder escapes even plain letters (obfuscation): then every leaf is matched.
        odd = b"\\" in data and NEEDLESS_ESCAPE.search(data) is not None
        return [Child(v.encode("utf-8", "surrogatepass"), f"json {p}", "json",
                      transparent=not odd and (b"\\" not in data or JSON_PLAIN.fullmatch(v) is not None),
                      structural=True)
                for p, v in leaves]


@dataclass(frozen=True)
class EscapedJson:
    """JSON objects inside other text or bytes (`data={...}`, a log line): their strings, escapes undone."""

    name: str = "escaped-json"
    headerless: bool = False

    def applies(self, view: View) -> bool:
        return b"\\" in view.data and b'"' in view.data

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        return [Child(v.encode("utf-8", "surrogatepass"), f"json {p}", "json")
                for p, v in embedded_json(view.data, MAX_LEAVES) or ()]


# --- forms, URLs, cookies -------------------------------------------------------

PADDED_B64 = re.compile(rb"[A-Za-z0-9+/_-]+={1,2}")
_NAME = rb"[A-Za-z_][\w.\-\[\]%*]{0,39}"
FORM = re.compile(rb"%s=(?:[^&=\s][^&\s]*)?(?:&%s=(?:[^&=\s][^&\s]*)?)*&?" % (_NAME, _NAME))


def form_fields(data: bytes, declared: bool) -> list[tuple[bytes, bytes, bytes]] | None:
    """(name, raw value, decoded value) of an application/x-www-form-urlencoded body.

    Undeclared, a body is taken for a form only if all of it reads as one, and
    not if it is a single name with an empty value (that is padded base64).
    """
    if not declared and (len(data) > (1 << 20) or not FORM.fullmatch(data) or PADDED_B64.fullmatch(data)):
        return None
    out = []
    for pair in data.split(b"&"):
        if not pair:
            continue
        name, _, raw = pair.partition(b"=")
        out.append((urldecode(name, plus=True), raw, urldecode(raw, plus=True)))
    if not declared and len(out) == 1 and not out[0][1]:
        return None
    return out


def query_fields(query: bytes) -> list[tuple[bytes, bytes, bytes]]:
    return form_fields(query, declared=True) or []


def cookies(header: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    for pair in header.split(b";"):
        name, sep, value = pair.strip().partition(b"=")
        if sep:
            out.append((name, value.strip(b'"')))
    return out


@dataclass(frozen=True)
class Form:
    """The fields of a form body, declared or not (then all of it must read as one); a long name
    is a field too."""

    name: str = "form"
    headerless: bool = False

    def applies(self, view: View) -> bool:
        return view.text

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        fields = form_fields(view.data, "x-www-form-urlencoded" in view.content_type.lower())
        if not fields:
            return None
        out = []
        for name, raw, value in fields:
            label = f"form {name.decode('utf-8', 'replace')}"
            if len(name) >= budget.limits.min_blob:  # a long name can be data too
                out.append(Child(name, label + " (name)", "form", False, structural=True))
            out.append(Child(value, label, "form", raw == value, structural=True))
        return out


@dataclass(frozen=True)
class Url:
    """A URL's path segments, query fields and fragment, %-escapes undone."""

    name: str = "url"
    headerless: bool = False

    def applies(self, view: View) -> bool:
        return view.kind == "url"

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        rest = view.data.split(b"#", 1)
        url, fragment = rest[0], rest[1] if len(rest) > 1 else b""
        path, _, query = url.partition(b"?")
        out = []
        after_scheme = path.split(b"://", 1)[-1]
        for i, seg in enumerate(after_scheme.split(b"/")[1:], 1):
            if len(seg) >= budget.limits.min_blob or b"%" in seg:
                decoded = urldecode(seg)
                out.append(Child(decoded, f"path[{i}]", "path", transparent=decoded == seg, structural=True))
        for name, raw, value in query_fields(query):
            out.append(Child(value, f"query {name.decode('utf-8', 'replace')}", "query",
                             transparent=raw == value, structural=True))
        if fragment:
            decoded = urldecode(fragment)
            out.append(Child(decoded, "fragment", "fragment", transparent=decoded == fragment,
                             structural=True))
        return out


@dataclass(frozen=True)
class Cookies:
    """The values of a Cookie header, each as it is."""

    name: str = "cookies"
    headerless: bool = False

    def applies(self, view: View) -> bool:
        return view.kind == "cookies"

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        return [Child(v, f"cookie {n.decode('utf-8', 'replace')}", "cookie", transparent=True,
                      structural=True) for n, v in cookies(view.data)]
