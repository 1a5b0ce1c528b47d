"""The registered decoders, in the order `expand` asks them: the first that yields children wins.

The order is the precedence: a URL or a cookie header is only taken apart as
one; a compressed stream before anything read in it; a multipart body before it
can pass for text; a JSON document or a form before protobuf (text can parse as
a message); a base85 token before a form (its alphabets hold `=` and `&`), and
a JSON string's code points that are binary (`latin1`) before protobuf, both
in one entry (`odd.Wholes`); the
leaves (escaped JSON, %-escapes, embedded streams, blobs, runs read backwards,
base32, ascii85 blocks, LZ-string) last, since they find something in almost anything.

The odd leaf decoders are asked only about views that a cheap look finds a
sign in (`odd.OddLeaves`), and the structural decoders are wrapped by
`odd.reveal`: a field holding an encoding that the walk's `may_hide` or JSON's
`want` do not know (base32, %-escapes backwards, ...) is kept as a view all the
same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from telltale.detect.decoders._api import All, Decoder
from telltale.detect.decoders.backwards import Reversed
from telltale.detect.decoders.base32 import Base32
from telltale.detect.decoders.base85 import Ascii85Blocks, Base85
from telltale.detect.decoders.codepoints import Latin1
from telltale.detect.decoders.compression import Decompress, EmbeddedStreams, Headerless
from telltale.detect.decoders.lzstring import LzString
from telltale.detect.decoders.multipart import Multipart
from telltale.detect.decoders.protobuf import Protobuf
from telltale.detect.decoders.odd import OddLeaves, Wholes, reveal
from telltale.detect.decoders.short import TooShort
from telltale.detect.decoders.structure import Cookies, EscapedJson, Form, Json, Url
from telltale.detect.decoders.text import Blobs, UrlEscapes

LEAVES = All("leaves", (EscapedJson(), UrlEscapes(), EmbeddedStreams(), Blobs(),
                        OddLeaves("odd", (Reversed(), Base32(), Ascii85Blocks(), LzString()))))

DECODERS: tuple[Decoder, ...] = (
    reveal(Url()),
    reveal(Cookies()),
    TooShort(),
    Decompress(),
    Multipart(),
    reveal(Json()),
    Wholes("wholes", (Base85(text_too=LEAVES), Latin1())),
    reveal(Form()),
    reveal(Protobuf(text_too=LEAVES)),
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
