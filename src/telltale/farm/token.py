"""The shared secrets of a farm (a host's token, the Grid's registration secret): read from the
environment variable devices.yaml names, never from a command line (every user of a machine can
read those) and never from git."""

from __future__ import annotations

import hmac
import os

from telltale.errors import SetupError

MIN_LENGTH = 16  # a guessable token is no authentication


def from_env(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SetupError(f"{what}: the environment variable {name} is not set (devices.yaml names it; "
                         "put the secret there, never on a command line)")
    if len(value) < MIN_LENGTH:
        raise SetupError(f"{what}: {name} holds {len(value)} characters; use at least {MIN_LENGTH} "
                         "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return value


def bearer(token: str) -> str:
    return f"Bearer {token}"


def matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the token (in constant time)."""
    given = (header or "").removeprefix("Bearer ").encode()
    return bool(header) and header.startswith("Bearer ") and hmac.compare_digest(given, token.encode())
