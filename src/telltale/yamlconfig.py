"""YAML configuration files (devices.yaml, policy.yaml) validated by pydantic, with errors
that name the file, the line and the field: what a person fixing the file needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from telltale.errors import ConfigError

def key_lines(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    """Map every key path in a composed YAML document to its 1-based line."""
    out = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out.update(key_lines(v, path + (key,)))
            out[path + (key,)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(key_lines(v, path + (i,)))
    return out


def line_of(loc: tuple, positions: dict[tuple, int]) -> int:
    """The line of a pydantic error location, or of its nearest parent that has one."""
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    while loc and loc not in positions:
        loc = loc[:-1]
    return positions.get(loc, 1)


def compose(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """The document's data and the line of every key; ConfigError on YAML that does not parse."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    return data, (key_lines(node) if node is not None else {})


def validate[M: BaseModel](model: type[M], data: Any, source: str, positions: dict[tuple, int]) -> M:
    """`model` from `data`; one line naming file, line and field on the first fault."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        # A misspelt key shows as "extra" and as a missing field: name the typo first.
        err = sorted(e.errors(), key=lambda x: x["type"] != "extra_forbidden")[0]
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc)
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{source}:{line_of(loc, positions)}: {where}: {msg}{more}") from None


def read_text(path: str | Path) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start})") from None
