"""Names from configuration that end up in file names: checked once, where they are read.

A device name, a group, a run id or a firmware process name becomes part of a path
(``captures/<device>-link.pcap``, ``reports/<run-id>/``). A name with a ``/`` or a
``..`` would write evidence outside the run folder, unredacted and outside the
manifest; so such names are refused when the configuration is loaded, and every
path built from one is checked to stay inside its folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from telltale.errors import ConfigError, TelltaleError

PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(PATTERN)
RULE = ("1 to 64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit "
        "(it becomes part of file names)")


def problem(value: object) -> str | None:
    """Why `value` cannot be a name, or None when it can."""
    if not isinstance(value, str):
        return f"{value!r} is not text"
    if not _NAME.match(value) or ".." in value:
        return f"{value!r} is not a usable name: {RULE}"
    return None


def check(value: object, what: str, source: str = "") -> str:
    """`value` when it is a usable name; else a ConfigError naming what it was for and where."""
    why = problem(value)
    if why:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}{what}: {why}")
    return str(value)


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused when it would resolve outside `folder` (a last line of defence:
    names are checked at load, but a path that leaves the run folder must never be written)."""
    path = folder / name
    base = folder.resolve()
    if not path.resolve().is_relative_to(base):
        raise TelltaleError(f"{name!r}: refusing to write outside {folder}")
    return path
