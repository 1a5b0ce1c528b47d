"""Benchmark of `telltale scan` against its floor (reading the capture) and its matcher.

One generated capture of realistic device traffic (query strings, JSON and
gzip-JSON telemetry, protobuf, forms, responses) with a few planted leaks is
measured, side by side in one run, for 10, 100, 1,000 and 10,000 canaries:

  read     mitmproxy's FlowReader only reading the file (the floor)
  records  telltale's damage-tolerant record reader only (what scan reads with)
  scan     scan_files end to end (compile + read + decode + match), the CLI's work
  match    time the scan spent inside the hyperscan matcher, and the bytes it matched
  raw-hs   the bare hyperscan database (same patterns) over the same request bytes
  grep     `grep -F -a -c -f PATTERNS` over the same request bytes, for reference

then the peak memory (ru_maxrss of a child process) of scanning a capture
of --mem-size MB (default 1024). Not run in tests; see bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from mitmproxy import http, io
from mitmproxy.test import tflow

from telltale.capture.store import read_records
from telltale.detect import Canary, Detector, scan_files
from telltale.detect import sources
from telltale.detect.matcher import Matcher

WORDS = ("event", "screen", "swipe", "folder", "open", "close", "session", "launcher", "gallery",
         "settings", "browser", "search", "page", "tab", "incognito", "resume", "pause")


def _token(rnd: random.Random, n: int = 16) -> str:
    return "".join(rnd.choice("0123456789abcdef") for _ in range(n))


def _event(rnd: random.Random) -> dict:
    return {"name": rnd.choice(WORDS), "ts": rnd.randrange(1 << 40), "dur": rnd.random(),
            "props": {rnd.choice(WORDS): rnd.choice(WORDS) + "-" + _token(rnd, 6) for _ in range(4)}}


def _pb(field: int, payload: bytes) -> bytes:
    n, out = len(payload), bytearray([field << 3 | 2])
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out) + payload


def make_flow(rnd: random.Random, i: int, leak: str | None, body_scale: int = 1) -> http.HTTPFlow:
    """One flow of typical phone telemetry; `leak` (a canary value) is planted in some encoding."""
    f = tflow.tflow(resp=True)
    host = rnd.choice(("api.vendor-analytics.example", "tracking.oem.example", "cdn.example.net",
                       "update.example.com"))
    f.request.host = host
    f.request.headers["host"] = host
    f.request.headers["user-agent"] = "Mozilla/5.0 (Linux; Android 14; Phone) Chrome/126.0 Mobile"
    f.request.headers["cookie"] = f"sid={_token(rnd, 32)}; lang=en; ab={_token(rnd, 8)}"
    f.request.headers["accept"] = "*/*"
    kind = rnd.random()
    body = b""
    path = f"/v2/{rnd.choice(WORDS)}?id={_token(rnd)}&seq={i}&t={rnd.randrange(1 << 40)}"
    if kind < 0.35:
        f.request.method = "GET"
    elif kind < 0.65:
        events = [_event(rnd) for _ in range(rnd.randint(4, 16) * body_scale)]
        doc = {"device": _token(rnd, 32), "events": events,
               "blob": base64.b64encode(os.urandom(rnd.randint(60, 300))).decode()}
        body = json.dumps(doc).encode()
        f.request.headers["content-type"] = "application/json"
    elif kind < 0.85:
        doc = {"batch": [_event(rnd) for _ in range(rnd.randint(8, 32) * body_scale)]}
        body = gzip.compress(json.dumps(doc).encode(), 6)
        f.request.headers["content-type"] = "application/json"
        f.request.headers["content-encoding"] = "gzip"
    elif kind < 0.95:
        fields = rnd.randint(10, 60) * body_scale
        body = b"".join(_pb(rnd.randint(1, 15), os.urandom(rnd.randint(4, 40)) if rnd.random() < 0.5
                            else rnd.choice(WORDS).encode() * 3) for _ in range(fields))
        f.request.headers["content-type"] = "application/x-protobuf"
    else:
        body = "&".join(f"{w}={quote(rnd.choice(WORDS) + ' ' + _token(rnd, 8))}"
                        for w in rnd.sample(WORDS, 6)).encode()
        f.request.headers["content-type"] = "application/x-www-form-urlencoded"
    if body:
        f.request.method = "POST"
    if leak is not None:
        how = i % 4
        if how == 0:
            path += "&u=" + quote(leak, safe="")
        elif how == 1:
            f.request.headers["x-ctx"] = base64.b64encode(leak.encode()).decode()
        elif how == 2:
            inner = base64.b64encode(json.dumps({"url": leak}).encode()).decode()
            body = gzip.compress(json.dumps({"e": inner}).encode())
            f.request.headers["content-encoding"] = "gzip"
        else:
            path += "&h=" + leak.encode().hex()
    f.request.path = path
    f.request.raw_content = body
    f.response.raw_content = json.dumps({"ok": True, "cfg": [_token(rnd, 24) for _ in range(40)]}).encode()
    f.server_conn.peername = ("203.0.113." + str(rnd.randrange(1, 250)), 443)
    return f


def canary_set(n: int, seed: int = 1) -> list[Canary]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(Canary(f"url{i}", f"https://tt-{_token(rnd, 10)}.example.net/read/{_token(rnd, 10)}"))
        elif i % 3 == 1:
            out.append(Canary(f"term{i}", f"{rnd.choice(WORDS)} telltale {_token(rnd, 12)}"))
        else:
            out.append(Canary(f"imei{i}", "35" + "".join(rnd.choice("0123456789") for _ in range(13)),
                              "identifier"))
    return out


def write_capture(path: Path, flows: int | None, size: int | None, leaks: list[str], body_scale: int = 1,
                  seed: int = 7) -> int:
    """Write flows until `flows` are written or the file reaches `size` bytes; streaming."""
    rnd = random.Random(seed)
    n = 0
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        while (flows is None or n < flows) and (size is None or fo.tell() < size):
            leak = leaks[n % len(leaks)] if leaks and n % 97 == 5 else None
            w.add(make_flow(rnd, n, leak, body_scale))
            n += 1
    return n


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def request_bytes(path: Path) -> list[bytes]:
    """The bytes the device sent, as they are on the wire (url, headers, raw body), per part."""
    out = []
    for rec in read_records(path):
        if rec.flow is not None:
            out += [p.data for p in sources.sent_of_flow(rec.flow).parts]
    return out


class TimedMatcher(Matcher):
    """The detector's matcher, counting the time and bytes spent inside hyperscan."""

    seconds = 0.0
    nbytes = 0
    calls = 0

    def scan(self, data: bytes):
        t = time.perf_counter()
        out = super().scan(data)
        TimedMatcher.seconds += time.perf_counter() - t
        TimedMatcher.nbytes += len(data)
        TimedMatcher.calls += 1
        return out

    def scan_many(self, datas):
        t = time.perf_counter()
        out = super().scan_many(datas)
        TimedMatcher.seconds += time.perf_counter() - t
        TimedMatcher.nbytes += sum(map(len, datas))
        TimedMatcher.calls += 1
        return out


def bench_rates(path: Path, n_flows: int, sizes: list[int], workdir: Path) -> None:
    mb = path.stat().st_size / 1e6

    def read_floor():
        with open(path, "rb") as fo:
            return sum(1 for _ in io.FlowReader(fo).stream())

    t_read, _ = _timed(read_floor)
    t_records, _ = _timed(lambda: sum(1 for _ in read_records(path)))
    parts = request_bytes(path)
    dump = workdir / "request-bytes.bin"
    dump.write_bytes(b"\n".join(parts))
    req_mb = sum(map(len, parts)) / 1e6
    print(f"capture: {n_flows} flows, {mb:.1f} MB on disk, {req_mb:.1f} MB sent by the device")
    print(f"read (FlowReader): {t_read:.2f} s = {n_flows / t_read:,.0f} flows/s, {mb / t_read:.1f} MB/s")
    print(f"read (read_records): {t_records:.2f} s = {n_flows / t_records:,.0f} flows/s")
    print()
    head = ("canaries", "patterns", "compile s", "scan s", "scan/read", "serial/read", "flows/s", "findings",
            "match s", "match MB", "match calls", "raw-hs s", "match/raw", "grep s")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    base_scan = None
    for n in sizes:
        canaries = canary_set(n)
        t_compile, matcher = _timed(lambda canaries=canaries: TimedMatcher(canaries))
        det = Detector(matcher)
        t_scan, result = _timed(lambda det=det: scan_files([path], det))  # parallel when large
        # the matcher's own time is measured in a serial scan (workers time their own matcher)
        TimedMatcher.seconds = TimedMatcher.nbytes = TimedMatcher.calls = 0
        t_serial, serial = _timed(lambda det=det: scan_files([path], det, workers=1))
        assert serial.findings == result.findings
        t_e2e = t_compile + t_scan
        base_scan = base_scan or t_e2e
        raw = Matcher(canaries)
        t_raw, _ = _timed(lambda raw=raw: [raw.scan_ids(p) for p in parts])
        pats = workdir / f"patterns-{n}.txt"
        pats.write_bytes(b"\n".join(_patterns(canaries)) + b"\n")
        t_grep = _grep(pats, dump)
        print(" | ".join([f"{n:,}", f"{matcher.pattern_count:,}", f"{t_compile:.2f}", f"{t_e2e:.2f}",
                          f"{t_read / t_scan:.2f}x", f"{t_read / t_serial:.2f}x", f"{n_flows / t_scan:,.0f}",
                          str(len(result.findings)),
                          f"{TimedMatcher.seconds:.2f}", f"{TimedMatcher.nbytes / 1e6:.1f}",
                          f"{TimedMatcher.calls:,}", f"{t_raw:.2f}",
                          f"{TimedMatcher.seconds / t_raw:.2f}x", t_grep]))
        sys.stdout.flush()
    print()
    print("scan/read: the rate of scanning (decode + match, compile excluded) relative to FlowReader "
          "reading alone (workers on every core for a capture of 8 MB or more); serial/read: the same "
          "in one process; match/raw: time in the matcher during the scan (over every decoded view) "
          "relative to the bare database over the raw request bytes; scan s includes compile.")


def _patterns(canaries: list[Canary]) -> list[bytes]:
    from telltale.detect.encodings import variants

    seen, out = set(), []
    for c in canaries:
        for v in variants(c):
            if v.pattern not in seen and b"\n" not in v.pattern:
                seen.add(v.pattern)
                out.append(v.pattern)
    return out


def _grep(patterns: Path, data: Path, timeout: float = 300) -> str:
    if not shutil.which("grep"):
        return "n/a"
    t = time.perf_counter()
    try:
        proc = subprocess.run(["grep", "-F", "-a", "-c", "-f", str(patterns), str(data)],
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f">{timeout:.0f}"
    dt = time.perf_counter() - t
    return f"{dt:.2f}" if proc.returncode in (0, 1) else f"exit {proc.returncode}"


def _tree_rss_kb(root: int) -> int:
    """Summed VmRSS of `root` and all its descendants (the scan's worker processes), from /proc."""
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fo:
                    parents[int(d)] = int(fo.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, grew = {root}, True
    while grew:
        new = {p for p, pp in parents.items() if pp in tree and p not in tree}
        tree |= new
        grew = bool(new)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as fo:
                total += next((int(line.split()[1]) for line in fo if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


def memory_child(path: str, n: int) -> None:
    """Run in a child: scan `path` with `n` canaries and print the result summary as JSON."""
    import threading

    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            peak[0] = max(peak[0], _tree_rss_kb(os.getpid()))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t, result = _timed(lambda: scan_files([path], canary_set(n)))
    done.set()
    th.join()
    print(json.dumps({"seconds": t, "flows": result.flows_scanned, "findings": len(result.findings),
                      "errors": len(result.errors), "truncated": len(result.truncated),
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "tree_kb": peak[0]}))


def bench_memory(workdir: Path, size_mb: int, n: int) -> None:
    path = workdir / "mem.mitm"
    t_w, flows = _timed(lambda: write_capture(path, None, size_mb * 1_000_000, leaks=[c.value for c in
                                              canary_set(n)[:5]], body_scale=8, seed=11))
    mb = path.stat().st_size / 1e6
    print(f"memory capture: {flows} flows, {mb:.0f} MB (written in {t_w:.0f} s)")
    # the child's own ru_maxrss (RUSAGE_CHILDREN would be the largest of all children, grep included)
    proc = subprocess.run([sys.executable, __file__, "--_memory-child", str(path), str(n)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr)
        return
    info = json.loads(proc.stdout)
    print(f"scan of {mb:.0f} MB with {n} canaries: {info['seconds']:.0f} s "
          f"({mb / info['seconds']:.1f} MB/s, {info['flows'] / info['seconds']:,.0f} flows/s), "
          f"peak RSS of the scanning process {info['maxrss_kb'] / 1024:.0f} MB "
          f"(with its worker processes, sampled: {info['tree_kb'] / 1024:.0f} MB), "
          f"{info['findings']} findings, {info['errors']} errors, {info['truncated']} truncated")
    path.unlink()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flows", type=int, default=20000, help="flows in the rate capture (default 20000)")
    p.add_argument("--canaries", default="10,100,1000,10000", help="canary set sizes")
    p.add_argument("--mem-size", type=int, default=1024, help="MB of the memory capture (0: skip)")
    p.add_argument("--mem-canaries", type=int, default=100)
    p.add_argument("--memory-only", action="store_true", help="skip the rate table")
    p.add_argument("--workdir", help="where to write the captures (default: a temporary folder)")
    p.add_argument("--_memory-child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._memory_child:
        memory_child(args._memory_child[0], int(args._memory_child[1]))
        return 0
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        sizes = [int(x) for x in args.canaries.split(",")]
        if not args.memory_only:
            leaks = [c.value for c in canary_set(max(sizes))[:10]]
            cap = work / "rates.mitm"
            t_w, n = _timed(lambda: write_capture(cap, args.flows, None, leaks))
            print(f"generated {n} flows in {t_w:.0f} s")
            bench_rates(cap, n, sizes, work)
            cap.unlink()
        if args.mem_size:
            print()
            bench_memory(work, args.mem_size, args.mem_canaries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
