"""Base32 (RFC 4648): one letter case and the digits 2-7, padded or not, as DNS tunnels and SDKs send data.

A run is a whole token (no letter or digit joins it on either side), in upper or in
lower case, of `min_blob` characters or more. A lowercase run must hold a digit (2-7) or
end in padding, or it is a word: the text of 10 bytes has a digit 91 times in 100, of
16 bytes 98, of 24 all but 3 in 1000 (a padded one is always taken). A run is kept only
when it decodes to data (text, a compressed stream, a message, `text._plausible`), never
to the noise a word decodes to.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass

from telltale.detect.decoders._api import Budget, Child, Decoded, View
from telltale.detect.decoders.text import _plausible

MAX_RUNS_PER_VIEW = 64
ANY_RUN = re.compile(rb"[A-Z2-7]{10}|[a-z2-7]{10}")  # `applies`: cheap
# in a field whose parent's match covered it (`odd.reveal`): a run that is no word
FIELD_HINT = re.compile(rb"[A-Z2-7]{12}|(?<![A-Za-z0-9])(?=[a-z2-7]{12})(?:[a-z]*+[2-7]|[a-z2-7]*+=)")


@functools.cache
def _run_re(min_len: int) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![A-Za-z0-9])(?:[A-Z2-7]{%d,}|(?=[a-z]*+[2-7]|[a-z2-7]*+=)[a-z2-7]{%d,})=*"
                      rb"(?![A-Za-z0-9])" % (min_len, min_len))


def b32decode(run: bytes, cap: int) -> Decoded:
    """Either case, padded or not; a trailing partial group no encoder makes (1, 3, 6 letters) is dropped."""
    s = run.rstrip(b"=")
    limit = cap // 5 * 8
    capped = len(s) > limit
    s = s[:limit]
    if len(s) % 8 in (1, 3, 6):
        s = s[:-1]
    try:
        return Decoded(base64.b32decode(s + b"=" * (-len(s) % 8), casefold=True), capped=capped)
    except binascii.Error as e:
        return Decoded(b"", error=str(e))


@dataclass(frozen=True)
class Base32:
    """Runs of base32 inside any text or bytes, each decoded within the flow's budget when it gives data."""

    name: str = "base32"
    headerless: bool = True  # a decoded run is whole data: compression with no header may hide in it

    def applies(self, view: View) -> bool:
        return ANY_RUN.search(view.data) is not None

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        out = []
        for n, m in enumerate(_run_re(budget.limits.min_blob).finditer(view.data)):
            if n >= MAX_RUNS_PER_VIEW:
                budget.note(f"{view.location}: more than {MAX_RUNS_PER_VIEW} base32 runs; "
                            "the rest not decoded")
                break
            d = b32decode(m[0], budget.cap)
            ok, text = _plausible(d)
            if ok:
                budget.decoded(view, d, "base32")  # a cut is noted, never silent
                out.append(Child(d.data, "base32", "base32", is_text=text))
        return out
