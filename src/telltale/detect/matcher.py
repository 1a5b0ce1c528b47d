"""One hyperscan database per canary set: every encoded form of every canary in one pass.

Patterns are literals; text and hex forms are caseless, base64 forms are
case-sensitive (case is data there). A match gives its end offset; the start
follows from the literal's length, so no start-of-match tracking is needed.

Many small buffers known at once (a flow's headers, a view's decoded fields) are matched in
one call over their concatenation (`scan_many`): a call costs more than matching a few
hundred bytes. A pattern may hold any byte, so no separator is safe; instead, the
concatenation holds every pattern that any of its buffers holds, so when it has no match
(nearly always) none of them has, and when it has one, each buffer is matched on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import hyperscan

from telltale.detect.encodings import b64_confirm, variants
from telltale.detect.model import Canary


@dataclass(frozen=True)
class Hit:
    """A canary's encoded form found in a view: [start, end) of that view."""

    canary: int  # index into Matcher.canaries
    encoding: str
    start: int
    end: int


def _stop(_pid: int, _from: int, _to: int, _flags: int, _ctx: object) -> bool:
    return True  # the first match ends the pass


class Matcher:
    """Compiled once per canary set; `scan(data)` is one pass over one buffer."""

    def __init__(self, canaries: Sequence[Canary]):
        self.canaries = tuple(canaries)
        by_key: dict[tuple[bytes, bool], int] = {}
        patterns: list[bytes] = []
        flags: list[int] = []
        # pattern id -> (canary, encoding, check) it stands for
        meaning: list[list[tuple[int, str, tuple[bytes, int] | None]]] = []
        lengths: list[int] = []
        for ci, c in enumerate(self.canaries):
            for v in variants(c):
                key = (v.pattern.lower() if v.caseless else v.pattern, v.caseless)
                pid = by_key.get(key)
                if pid is None:
                    pid = by_key[key] = len(patterns)
                    patterns.append(v.pattern)
                    flags.append(hyperscan.HS_FLAG_SINGLEMATCH
                                 | (hyperscan.HS_FLAG_CASELESS if v.caseless else 0))
                    meaning.append([])
                    lengths.append(len(v.pattern))
                if all(m[0] != ci for m in meaning[pid]):
                    meaning[pid].append((ci, v.encoding, v.check))
        self.pattern_count = len(patterns)
        self._meaning = meaning
        self._lengths = lengths
        self._db = None
        if patterns:
            self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._db.compile(expressions=patterns, ids=list(range(len(patterns))),
                             elements=len(patterns), flags=flags, literal=True)
            self._scratch = hyperscan.Scratch(self._db)

    def scan_ids(self, data: bytes) -> list[tuple[int, int]]:
        """Raw (pattern id, end offset) pairs, in the order hyperscan reports them."""
        if self._db is None or not data:
            return []
        found: list[tuple[int, int]] = []

        def on_match(pid: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            found.append((pid, to))

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch)
        return found

    def scan(self, data: bytes) -> list[Hit]:
        """Every canary whose encoded form occurs in `data`, first occurrence per form."""
        hits = []
        for pid, end in self.scan_ids(data):
            start = end - self._lengths[pid]
            for ci, enc, check in self._meaning[pid]:
                if check is None or b64_confirm(data, start, *check):
                    hits.append(Hit(ci, enc, start, end))
        hits.sort(key=lambda h: (h.start, h.canary))
        return hits

    def scan_many(self, datas: Sequence[bytes]) -> list[list[Hit]]:
        """`[self.scan(d) for d in datas]`, with one pass over all of them when none holds a match.

        A match in the concatenation (in one buffer, or only across two: spurious) sends every
        buffer to its own pass, so what is found is exactly what separate passes find.
        """
        if len(datas) < 2 or self._db is None:
            return [self.scan(d) for d in datas]
        joined = b"".join(datas)
        if not joined:
            return [[] for _ in datas]
        try:
            self._db.scan(joined, match_event_handler=_stop, scratch=self._scratch)
        except hyperscan.ScanTerminated:  # something matched: each buffer on its own
            return [self.scan(d) for d in datas]
        return [[] for _ in datas]
