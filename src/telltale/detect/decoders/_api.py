"""What a decoder is given and gives back: a view, the budget of its flow, the child views it yields.

A view is one node of the tree of everything a sent part decodes to (see
`telltale.detect.views`); a decoder looks at one view and says which views lie
one step below it. Nothing here knows any particular encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from telltale.detect.model import Limits

_NOT_CONTROL = bytes(b for b in range(256) if not (b < 32 and b not in (9, 10, 13)))


def looks_text(data: bytes) -> bool:
    """Mostly printable UTF-8: text worth parsing as text, not as binary."""
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        cut = len(data) > len(sample) and e.reason == "unexpected end of data"
        if not cut:  # only a character cut at the sample's end is forgiven
            return False
    if not sample:
        return True
    control = len(sample.translate(None, _NOT_CONTROL))
    return control * 20 <= len(sample)


@dataclass(frozen=True)
class Decoded:
    """Output of one capped decode. `capped`: stopped at the cap; `error`: input damaged."""

    data: bytes
    capped: bool = False
    error: str | None = None


@dataclass(slots=True)
class View:
    """One node of a part's decoding tree (mutable: the walk fills in `hit` once it is matched)."""

    data: bytes
    location: str
    chain: tuple[str, ...]
    parent: int  # index of the parent view, -1 for a root
    depth: int
    transparent: bool  # a slice of the parent as is: the parent's match covers it
    text: bool  # it reads as text (`looks_text`): most decoders ask, so it is worked out once
    content_encoding: str = ""
    content_type: str = ""
    kind: str = "raw"  # raw | url | cookies
    headerless: bool = False  # made by a `headerless` decoder: compression with no header may hide in it
    hit: bool = True  # its own match found something (so its fields are wanted, to say where)


@dataclass(slots=True)
class Child:
    """A view one step below another, as a decoder yields it (mutable: the walk marks `headerless`)."""

    data: bytes
    label: str  # how the location names this step ("json $.a", "gzip")
    step: str  # the chain's name for it ("json", "gzip")
    transparent: bool = False
    content_encoding: str = ""
    content_type: str = ""
    kind: str = "raw"
    structural: bool = False  # a field of its parent: only worth a view if it hides more, or for a hit
    headerless: bool = False
    is_text: bool | None = None  # whether `data` reads as text, when the decoder already worked it out


def mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


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

    @property
    def cap(self) -> int:
        """The most one decode may give now: its own cap, or what the flow has left if less."""
        return min(self.limits.max_output, self.bytes_left)

    def note(self, msg: str) -> None:
        self.noted += 1
        if msg not in self.notes:
            self.notes.append(msg)

    def decoded(self, view: View, d: Decoded, what: str) -> None:
        """Note a decode of `view` that stopped at its cap, or at damage after giving something."""
        if d.capped:
            self.note(f"{view.location}: {what} output capped at {mib(self.limits.max_output)}")
        elif d.error and d.data:
            self.note(f"{view.location}: {what} stream damaged or cut off after {len(d.data)} bytes "
                      f"({d.error}); the part before was scanned")


class Decoder(Protocol):
    """One way of looking below a view. `expand` asks each registered decoder in turn.

    `applies` is a cheap first look (`always` for a decoder whose `children` must look at
    every view to tell); `children` does the work and returns the views one step below (an
    empty list: the view is this decoder's, and nothing lies below it), or None: not this
    decoder's after all, the next one is asked. `headerless`: what it yields is whole data of
    no declared type or encoding (a decoded blob, a decompressed stream, a MIME part), in
    which compression sent with no header and no magic may still be guessed.
    """

    name: str
    headerless: bool

    def applies(self, view: View) -> bool: ...

    def children(self, view: View, budget: Budget) -> list[Child] | None: ...


def always(self: object, view: View) -> bool:
    """`applies` of a decoder that looks at every view: then it is not even asked."""
    return True


Plan = tuple[tuple[Callable[[View], bool] | None, Callable[[View, Budget], list[Child] | None], bool], ...]


def plan(decoders: Iterable[Decoder]) -> Plan:
    """(applies, children, headerless) of each decoder, bound once (a call site that meets many
    decoder types would look each method up the slow way); `applies` None when it is `always`."""
    return tuple((None if getattr(type(d), "applies", None) is always else d.applies, d.children,
                  d.headerless) for d in decoders)


@dataclass(frozen=True)
class All:
    """Several decoders that each add what they find, in order: one view read several ways at once
    (the leaves of a view: escaped JSON, %-escapes, embedded streams and blobs side by side)."""

    name: str
    parts: tuple[Decoder, ...]
    headerless: bool = False  # each part marks its own children
    _plan: Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", plan(self.parts))

    applies = always

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        out: list[Child] = []
        for applies, children, headerless in self._plan:
            if applies is None or applies(view):
                gather(out, children(view, budget), headerless)
        return out


def gather(out: list[Child], kids: list[Child] | None, headerless: bool) -> None:
    """Add a part's children to `out`, marked when its decoder yields headerless data."""
    if kids:
        if headerless:
            for c in kids:
                c.headerless = True
        out += kids
