"""Registrable domains and parties: who a host belongs to (no other dependency of Telltale).

`registrable_domain("a.b.example.co.uk") == "example.co.uk"`, from the public suffix
list the `publicsuffixlist` package ships (never fetched at run time). An IP literal is
its own party: it has no registrable domain.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=1)
def _psl():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def registrable_domain(host: str) -> str:
    """example.co.uk for a.b.example.co.uk; an IP literal stays itself (8.8.8.8, not 8.8)."""
    host = host.lower().rstrip(".")
    if _is_ip(host):
        return host
    return _psl().privatesuffix(host) or host


def same_party(host: str, first_party: str) -> bool:
    return registrable_domain(host) == registrable_domain(first_party)
