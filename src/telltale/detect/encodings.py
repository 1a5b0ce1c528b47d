"""The encoded forms of a value, as literal byte patterns for one multi-pattern pass.

Searching for encodings of the value (rather than decoding everything in
sight) lets one hyperscan pass over a view find the value plain, URL-encoded,
base64 in any alignment, hex, JSON-escaped or hashed at once. Decoding is
then only needed for what hides bytes entirely (compression, nesting).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from telltale.detect.model import Canary

MIN_B64_LEN = 6  # shorter base64 fragments occur by chance inside any blob


@dataclass(frozen=True)
class Variant:
    """One literal to search for and what it stands for."""

    pattern: bytes
    caseless: bool
    encoding: str  # "plain" or a step name: url, url2, base64, base64url, hex, json, md5, ...
    # base64 fragments leave out the bits of the value's first and last characters that
    # share a base64 character with their neighbours: (value bytes, alignment) to check them
    check: tuple[bytes, int] | None = None


def _b64_fragments(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """The base64 text of `raw` in each of the 3 alignments it can have inside a larger blob.

    Encoding k filler bytes before `raw` and keeping only the characters made
    entirely of `raw`'s bits gives the text any encoder produces for it,
    whatever precedes or follows it.
    """
    n = len(raw)
    for k in range(3):
        enc = base64.b64encode(bytes(k) + raw)
        first = -(-8 * k // 6)
        last = (8 * (k + n)) // 6
        frag = enc[first:last]
        if len(frag) >= MIN_B64_LEN:
            yield k, frag


def b64_confirm(data: bytes, start: int, raw: bytes, k: int) -> bool:
    """Whether the base64 text around a fragment found at `start` decodes to all of `raw`."""
    g = start - -(-8 * k // 6)  # where the 3-byte group holding raw's first byte begins
    need = -(-8 * (k + len(raw)) // 6)
    if g < 0 or g + need > len(data):
        return False
    chunk = data[g:g + need].translate(_URLSAFE_TO_STD)
    try:
        decoded = base64.b64decode(chunk + b"A" * (-len(chunk) % 4))
    except ValueError:
        return False
    return decoded[k:k + len(raw)] == raw


_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")


def _url_forms(s: str) -> set[str]:
    forms = {quote(s, safe=""), quote_plus(s, safe=""), quote(s, safe="/:"),
             quote(s, safe="-_.!~*'()"), quote_plus(s, safe="/:")}
    return {f for f in forms if f != s}


def _json_forms(s: str) -> set[str]:
    base = json.dumps(s)[1:-1]  # \uXXXX for non-ASCII, \" \\ and controls
    forms = {base, base.replace("/", "\\/")}
    html_safe = {b.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") for b in forms}
    forms |= html_safe
    return {f for f in forms if f != s}


_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$")


def identifier_forms(value: str) -> list[str]:
    """The spellings an identifier is sent in: as given, and for a MAC without or with other separators."""
    forms = [value]
    if _MAC.match(value):
        bare = re.sub(r"[:-]", "", value)
        forms += [bare, value.replace(":", "-") if ":" in value else value.replace("-", ":")]
    return forms


def _hash_variants(value: str) -> Iterator[Variant]:
    texts = []
    for form in identifier_forms(value):
        for t in (form, form.lower(), form.upper()):
            if t not in texts:
                texts.append(t)
    for t in texts:
        for algo in ("md5", "sha1", "sha256"):
            d = hashlib.new(algo, t.encode()).digest()
            yield Variant(d.hex().encode(), True, algo)
            std = base64.b64encode(d).rstrip(b"=")
            yield Variant(std, False, f"{algo}-base64")
            url = base64.urlsafe_b64encode(d).rstrip(b"=")
            if url != std:
                yield Variant(url, False, f"{algo}-base64url")


def variants(canary: Canary) -> list[Variant]:
    """Every literal that betrays `canary`, deduplicated (first, plainest name wins)."""
    out: list[Variant] = []
    seen: set[tuple[bytes, bool]] = set()

    def add(pattern: bytes, caseless: bool, encoding: str, check: tuple[bytes, int] | None = None) -> None:
        key = (pattern.lower() if caseless else pattern, caseless)
        if pattern and key not in seen:
            seen.add(key)
            out.append(Variant(pattern, caseless, encoding, check))

    texts = identifier_forms(canary.value) if canary.kind == "identifier" else [canary.value]
    for text in texts:
        raw = text.encode()
        add(raw, True, "plain")
        for form in sorted(_json_forms(text)):
            add(form.encode(), True, "json")
        for form in sorted(_url_forms(text)):
            add(form.encode(), True, "url")
            add(quote(form, safe="").encode(), True, "url2")
        add(raw.hex().encode(), True, "hex")
        cased = [raw] + [c for c in (raw.lower(),) if c != raw]
        for r in cased:
            for k, frag in _b64_fragments(r):
                add(frag, False, "base64", (r, k))
                add(frag.translate(bytes.maketrans(b"+/", b"-_")), False, "base64url", (r, k))
    if canary.kind == "identifier":
        for v in _hash_variants(canary.value):
            add(v.pattern, v.caseless, v.encoding)
    return out
