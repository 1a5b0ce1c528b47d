"""Lookup speed of the destination checks: IP->country and host->tracker lists, per second.

    python bench/bench_destinations.py [--n 200000]

Addresses are random public IPv4/IPv6 (a fixed seed); hosts are a mix of known trackers,
their subdomains and unlisted names. Also reports the one-time cost of opening the data.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time

from telltale.destinations import geo, trackers


def _ips(n: int, rng: random.Random) -> list[str]:
    out = []
    while len(out) < n:
        if rng.random() < 0.7:
            a = ipaddress.IPv4Address(rng.getrandbits(32))
        else:
            a = ipaddress.IPv6Address((0x2000 << 112) | rng.getrandbits(112))
        if a.is_global:
            out.append(str(a))
    return out


def _hosts(n: int, rng: random.Random) -> list[str]:
    known = ["tracking.intl.miui.com", "sa.api.intl.miui.com", "www.google-analytics.com",
             "stats.g.doubleclick.net", "data.mistat.intl.xiaomi.com"]
    words = ["cdn", "api", "img", "www", "static", "news", "shop", "mail", "m", "edge"]
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.2:
            out.append(rng.choice(known))
        elif r < 0.4:
            out.append(f"{rng.choice(words)}{i}.{rng.choice(known)}")
        else:
            out.append(f"{rng.choice(words)}.site{rng.randrange(100000)}.example.com")
    return out


def _rate(fn, items) -> float:
    t0 = time.perf_counter()
    for x in items:
        fn(x)
    return len(items) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    n = ap.parse_args().n
    rng = random.Random(4)
    t0 = time.perf_counter()
    db = geo.default()
    t_geo = time.perf_counter() - t0
    t0 = time.perf_counter()
    tdb = trackers.load()
    t_trk = time.perf_counter() - t0
    ips, hosts = _ips(n, rng), _hosts(n, rng)
    country = _rate(db.country, ips)
    tracker = _rate(tdb.match, hosts)
    hit = sum(1 for h in hosts[:10000] if tdb.match(h)) / 100
    print(f"data: {db.dataset.line()}")
    for d in tdb.datasets:
        print(f"      {d.line()}")
    print(f"open: country db {t_geo * 1000:.0f} ms, tracker lists {t_trk * 1000:.0f} ms "
          f"({sum(len(lst) for lst in tdb.lists):,} rules)")
    print(f"country lookups: {country:,.0f}/s  ({n:,} random public IPv4/IPv6)")
    print(f"tracker lookups: {tracker:,.0f}/s  ({n:,} hosts, {hit:.0f}% named by a list)")


if __name__ == "__main__":
    main()
