"""The registered decoders, in the order `expand` asks them: the first that yields children wins.

The order is the precedence: a URL or a cookie header is only taken apart as
one; a compressed stream before anything read in it; a multipart body before it
can pass for text; a JSON document or a form before protobuf (text can parse as
a message); the leaves (escaped JSON, %-escapes, embedded streams, blobs) last,
since they find something in almost anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from telltale.detect.decoders._api import All, Decoder
from telltale.detect.decoders.compression import Decompress, EmbeddedStreams, Headerless
from telltale.detect.decoders.multipart import Multipart
from telltale.detect.decoders.protobuf import Protobuf
from telltale.detect.decoders.short import TooShort
from telltale.detect.decoders.structure import Cookies, EscapedJson, Form, Json, Url
from telltale.detect.decoders.text import Blobs, UrlEscapes

LEAVES = All("leaves", (EscapedJson(), UrlEscapes(), EmbeddedStreams(), Blobs()))

DECODERS: tuple[Decoder, ...] = (
    Url(),
    Cookies(),
    TooShort(),
    Decompress(),
    Multipart(),
    Json(),
    Form(),
    Protobuf(text_too=LEAVES),
    Headerless(),
    LEAVES,
)


def walk(decoders: Iterable[Decoder] | None = None) -> Iterator[Decoder]:
    """Every decoder of `decoders` (the registry by default), those combined in another included, once."""
    seen: set[int] = set()
    stack = list(DECODERS if decoders is None else decoders)[::-1]
    while stack:
        d = stack.pop()
        if id(d) in seen:
            continue
        seen.add(id(d))
        yield d
        stack.extend(reversed(getattr(d, "parts", ())))
