"""The detector: canaries compiled once, then every flow's decoded views matched in one pass each.

Pure at the centre (`Detector.scan_sent` takes what a flow sent and returns
findings); capture files are read at the edge (`scan_files`), flow by flow.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from mitmproxy import flow as mflow

from telltale.capture.store import EMPTY_CAPTURE, _length_prefix
from telltale.detect import sources
from telltale.detect.matcher import Hit, Matcher
from telltale.detect.model import Canary, Finding, Limits, Part, ScanResult, Sent
from telltale.detect.views import Budget, View, examine
from telltale.errors import CaptureFileError


DEFAULT_LIMITS = Limits()
log = logging.getLogger(__name__)

MEMO_PART_BYTES = 4096  # parts up to this size are remembered when they hold nothing
MEMO_BYTES = 16 << 20  # the memory of one detector's memo (keys' bytes), then it starts afresh


def _memo_key(part: Part) -> tuple[bytes, str, str, str]:
    """What decides how a part decodes: its bytes, kind, content encoding and type."""
    return (part.data, part.kind, part.content_encoding, part.content_type)


@dataclass(frozen=True)
class FlowScan:
    """Findings of one flow, and what was decoded only in part."""

    findings: tuple[Finding, ...]
    truncated: tuple[str, ...]


def excerpt(data: bytes, start: int, end: int, context: int) -> str:
    """A short, printable piece of `data` around [start, end) with the match marked «like this»."""
    def show(b: bytes) -> str:
        s = b.decode("utf-8", "backslashreplace")
        return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s)

    lo, hi = max(0, start - context), min(len(data), end + context)
    return ("…" if lo else "") + show(data[lo:start]) + "«" + show(data[start:end]) + "»" \
        + show(data[end:hi]) + ("…" if hi < len(data) else "")


def _ancestors(views: list[View], idx: int) -> Iterable[int]:
    p = views[idx].parent
    while p >= 0:
        yield p
        p = views[p].parent


class Detector:
    """Every encoded form of a canary set, compiled once; scans one flow at a time."""

    def __init__(self, matcher: Matcher, limits: Limits = DEFAULT_LIMITS):
        self.matcher = matcher
        self.limits = limits
        # (bytes, kind, content-encoding, content-type) of a part whose whole decoding gave no hit
        # and no note -> (views, bytes) it took of the flow's budget. The same header value in
        # the next flow decodes to the same views and the same (no) hits: only its cost is taken.
        self._memo: dict[tuple[bytes, str, str, str], tuple[int, int]] = {}
        self._memo_bytes = 0

    def _examine(self, part: Part, budget: Budget, views: list[View],
                 root_hits: list[Hit] | None = None) -> list[tuple[int, Hit]]:
        """`examine`, or for a part seen before that held nothing, only its cost to the budget.

        Exact: the budget must leave both runs the same room (no cut, every decode capped at
        `max_output` alone), or the part is decoded again. `root_hits`: the part's own match,
        if already made.
        """
        m = self.matcher
        if len(part.data) > MEMO_PART_BYTES:
            return examine(part, m.scan, budget, views, m.scan_many, root_hits)
        key = _memo_key(part)
        room = budget.bytes_left - self.limits.max_output
        known = self._memo.get(key)
        if known is not None and budget.views_left >= known[0] and room >= known[1]:
            budget.views_left -= known[0]
            budget.bytes_left -= known[1]
            return []
        views_left, bytes_left, noted = budget.views_left, budget.bytes_left, budget.noted
        hits = examine(part, m.scan, budget, views, m.scan_many, root_hits)
        used = bytes_left - budget.bytes_left
        if not hits and budget.noted == noted and room >= used:
            if self._memo_bytes > MEMO_BYTES:
                self._memo.clear()
                self._memo_bytes = 0
            self._memo[key] = (views_left - budget.views_left, used)
            self._memo_bytes += len(part.data) + 64
        return hits

    @classmethod
    def build(cls, canaries: Iterable[Canary], limits: Limits = DEFAULT_LIMITS) -> Detector:
        return cls(Matcher(list(canaries)), limits)

    @property
    def canaries(self) -> tuple[Canary, ...]:
        return self.matcher.canaries

    def scan_sent(self, sent: Sent) -> FlowScan:
        """Findings in what one flow sent: the most precise place of each canary, once per place."""
        budget = Budget.of(self.limits)
        views: list[View] = []
        hits: list[tuple[int, Hit]] = []
        parts = sent.parts
        # the small parts not known to hold nothing are matched together first (one call)
        memo = self._memo
        fresh = [p.data for p in parts if len(p.data) <= MEMO_PART_BYTES and _memo_key(p) not in memo]
        roots: dict[bytes, list[Hit]] = {}
        if len(fresh) > 1:
            fresh = list(dict.fromkeys(fresh))
            roots = dict(zip(fresh, self.matcher.scan_many(fresh), strict=True))
        for part in parts:
            hits += self._examine(part, budget, views, roots.get(part.data))
        # A hit in a view whose decoded descendant also holds the canary is the same
        # sighting said less precisely: keep the deepest.
        hit_views: dict[int, set[int]] = {}
        for vi, h in hits:
            hit_views.setdefault(h.canary, set()).add(vi)
        covered = {(c, a) for c, vis in hit_views.items() for vi in vis for a in _ancestors(views, vi)}
        findings: dict[tuple[int, str], tuple[int, Finding]] = {}
        for vi, h in hits:
            if (h.canary, vi) in covered:
                continue
            v = views[vi]
            key = (h.canary, v.location)
            if key in findings:
                continue
            chain = v.chain + (() if h.encoding == "plain" else (h.encoding,))
            f = Finding(sent.flow, sent.host, sent.server_ip, self.canaries[h.canary].name, v.location,
                        chain, excerpt(v.data, h.start, h.end, self.limits.excerpt_context), sent.capture)
            findings[key] = (vi, f)
        ordered = sorted(findings.items(), key=lambda kv: (kv[1][0], kv[0][0]))
        label = f"{sent.capture}: " if sent.capture else ""
        notes = tuple(f"{label}flow {sent.flow}: {n}" for n in budget.notes)
        return FlowScan(tuple(f for _, (_, f) in ordered), notes)

    def scan_flow(self, flow: mflow.Flow) -> list[Finding]:
        """Findings in one in-memory mitmproxy flow (HTTP, WebSocket, TCP, UDP, DNS)."""
        return list(self.scan_sent(sources.sent_of_flow(flow)).findings)


class _Collector:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.errors: list[str | CaptureFileError] = []
        self.truncated: list[str] = []
        self.flows = 0
        self.serial: list[str] = []
        self.workers: set[int] = set()

    def add(self, scan: FlowScan) -> None:
        self.flows += 1
        self.findings += scan.findings
        self.truncated += scan.truncated

    def result(self) -> ScanResult:
        return ScanResult(tuple(self.findings), tuple(self.errors), tuple(self.truncated), self.flows,
                          tuple(self.serial), tuple(sorted(self.workers)))


def _detector(canaries: Iterable[Canary] | Detector) -> Detector:
    return canaries if isinstance(canaries, Detector) else Detector.build(canaries)


def scan_flows(flows: Iterable[mflow.Flow], canaries: Iterable[Canary] | Detector) -> ScanResult:
    """Scan in-memory flows (a scenario window); a flow that cannot be scanned is an error, not a stop."""
    det = _detector(canaries)
    out = _Collector()
    for f in flows:
        try:
            out.add(det.scan_sent(sources.sent_of_flow(f)))
        except Exception as e:  # noqa: BLE001 - one odd flow must not hide the others' findings
            out.errors.append(f"flow {getattr(f, 'id', '?')}: cannot be scanned: {type(e).__name__}: {e}")
    return out.result()


def _scan_capture(det: Detector, p: str, out: _Collector, start: int = 0, end: int | None = None,
                  first: int = 0) -> None:
    try:
        for index, item in sources.read_capture(p, start, end, first):
            if isinstance(item, CaptureFileError):
                out.errors.append(item)
                continue
            try:
                out.add(det.scan_sent(item))
            except Exception as e:  # noqa: BLE001
                out.errors.append(CaptureFileError(p, f"record {index} (flow {item.flow})",
                                                   f"cannot be scanned: {type(e).__name__}: {e}"))
    except CaptureFileError as e:
        out.errors.append(e)


# --- parallel scanning of large flow files -----------------------------------

PARALLEL_MIN_BYTES = 8 << 20  # smaller captures are scanned in this process


def _workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, n)


def _spans(p: str, n: int) -> list[tuple[int, int | None, int]]:
    """(start, end, index of the first record) of about `n` spans of a flow file on record boundaries.

    Only length prefixes are read. At damage the walk stops: the last span runs to the end of
    the file, so its reader meets the damage just as a serial read would.
    """
    total = os.path.getsize(p)
    step = total / n
    bounds: list[tuple[int, int]] = [(0, 0)]
    index = 0
    with open(p, "rb") as fo:
        while len(bounds) < n:
            pos = fo.tell()
            if pos >= total:
                break
            if pos >= bounds[-1][0] + step:
                bounds.append((pos, index))
            head, closed = _length_prefix(fo)
            if not closed or not head.isdigit():
                break
            nxt = fo.tell() + int(head) + 1
            if nxt > total:
                break
            fo.seek(nxt)
            index += 1
    return [(b[0], bounds[i + 1][0] if i + 1 < len(bounds) else None, b[1]) for i, b in enumerate(bounds)]


_WORKER_DETECTORS: dict[tuple[tuple[Canary, ...], Limits], Detector] = {}


def _scan_span(canaries: tuple[Canary, ...], limits: Limits, p: str, start: int, end: int | None,
               first: int) -> tuple[list[Finding], list, list[str], int, int]:
    """One span, in a worker: errors travel as plain tuples (the exception does not pickle); the
    worker's process id says the span was scanned there."""
    key = (canaries, limits)
    det = _WORKER_DETECTORS.get(key)
    if det is None:
        _WORKER_DETECTORS.clear()
        det = _WORKER_DETECTORS[key] = Detector.build(canaries, limits)
    out = _Collector()
    _scan_capture(det, p, out, start, end, first)
    errors = [(e.path, e.where, e.message) if isinstance(e, CaptureFileError) else str(e) for e in out.errors]
    return out.findings, errors, out.truncated, out.flows, os.getpid()


def _serially(p: str, out: _Collector, why: str) -> bool:
    """A capture big enough for workers is scanned in this process after all: said, never silent."""
    note = f"{p}: scanned serially: {why}"
    log.warning("%s", note)
    out.serial.append(note)
    return False


def _scan_parallel(det: Detector, p: str, out: _Collector, workers: int) -> bool:
    """Scan a large flow file in spans, in worker processes; False (nothing added) if it is to be
    scanned in this process: a HAR file or one span (read whole, as they must be), a capture the
    serial scan must name the damage of, or worker processes that cannot start or died (noted)."""
    try:
        if sources.capture_kind(p) != "flows":
            return False
        spans = _spans(p, workers * 4)  # more spans than workers: a slow one does not hold up the end
    except CaptureFileError:
        return False  # the serial scan reports it
    if len(spans) < 2:
        return False
    try:
        ctx = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(max_workers=min(workers, len(spans)), mp_context=ctx)
    except (ValueError, OSError, NotImplementedError) as e:  # no start method, semaphores or processes here
        return _serially(p, out, f"no worker processes here ({type(e).__name__}: {e})")
    with pool:
        try:
            futures = [pool.submit(_scan_span, det.canaries, det.limits, p, s, e, f) for s, e, f in spans]
        except (OSError, RuntimeError) as e:  # the processes could not be started
            return _serially(p, out, f"worker processes could not start ({type(e).__name__}: {e})")
        try:
            results = [f.result() for f in futures]
        except BrokenProcessPool as e:  # a worker was killed (out of memory, a signal)
            return _serially(p, out, f"a worker process died ({e})")
    for findings, errors, truncated, flows, pid in results:  # in file order: as a serial scan
        out.findings += findings
        out.errors += [CaptureFileError(*e) if isinstance(e, tuple) else e for e in errors]
        out.truncated += truncated
        out.flows += flows
        out.workers.add(pid)
    return True


def scan_files(paths: Iterable[str | Path], canaries: Iterable[Canary] | Detector,
               workers: int | None = None, parallel_min_bytes: int = PARALLEL_MIN_BYTES) -> ScanResult:
    """Scan capture files (mitmproxy flow files or HAR), flow by flow; damage is reported, not fatal,
    and so is a file with no flow in it.

    A flow file of `parallel_min_bytes` or more is scanned in spans by `workers` processes
    (default: one per core); the result is the same as a serial scan's, in the same order.
    """
    det = _detector(canaries)
    n = _workers() if workers is None else workers
    out = _Collector()
    for path in paths:
        p = str(path)
        flows, errors = out.flows, len(out.errors)
        _scan_path(det, p, out, n, parallel_min_bytes)
        if out.flows == flows and len(out.errors) == errors:  # nothing read is not "nothing found"
            out.errors.append(CaptureFileError(p, "whole file", EMPTY_CAPTURE))
    return out.result()


def _scan_path(det: Detector, p: str, out: _Collector, workers: int, parallel_min_bytes: int) -> None:
    """One capture file: in spans by worker processes when it is large, else in this process."""
    if workers > 1:
        try:
            big = os.path.getsize(p) >= parallel_min_bytes
        except OSError:
            big = False
        if big and _scan_parallel(det, p, out, workers):
            return
    _scan_capture(det, p, out)
