"""Registrable domains and parties: who a host belongs to (no other dependency of Telltale).

`registrable_domain("a.b.example.co.uk") == "example.co.uk"`, from the public suffix
list the `publicsuffixlist` package ships (never fetched at run time). An IP literal is
its own party: it has no registrable domain, so its "domain" is the address itself in
one canonical spelling, and two addresses are never one party by a shared suffix.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=1)
def _psl():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def ip_literal(host: str) -> str | None:
    """The canonical spelling of an IP-literal host, None for a name.

    IPv4 dotted (an IPv4-mapped IPv6 address is its IPv4 one); IPv6 compressed, lower-case and
    bracketed as in a URL, so `2001:DB8:0::1`, `[2001:db8::1]` and `2001:db8::1` are one party.
    """
    try:
        addr = ipaddress.ip_address(host.strip().rstrip(".").removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr) if addr.version == 4 else f"[{addr}]"


def registrable_domain(host: str) -> str:
    """example.co.uk for a.b.example.co.uk; an IP literal is its own address (8.8.8.8, not 8.8)."""
    host = host.lower().rstrip(".")
    ip = ip_literal(host)
    if ip is not None:
        return ip
    if host.rsplit(".", 1)[-1].isdigit():
        return host  # no top-level domain is all digits: an address in a form ipaddress refuses (1.2.3)
    return _psl().privatesuffix(host) or host


def same_party(host: str, other: str) -> bool:
    """Whether two hosts belong to one party: a site's CDN is its own (cdn.example.com and
    www.example.com), a look-alike is not (example.com.evil.net), an address only itself."""
    return registrable_domain(host) == registrable_domain(other)
