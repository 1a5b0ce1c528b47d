"""YAML configuration files (devices.yaml, policy.yaml) validated by pydantic, with errors
that name the file, the line and the field: what a person fixing the file needs.

The YAML is read strictly: anything YAML readers disagree on, or that YAML 1.1 reads
otherwise than a person means (``NO`` for Norway read as false, ``1:20`` as 80, ``017``
as 15, a key written twice of which the last silently wins), is refused with its line
instead of being guessed at.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from telltale.errors import ConfigError

_TAG = "tag:yaml.org,2002:"
_BOOL_WORDS = re.compile(r"y|n|yes|no|on|off", re.I)
# YAML 1.2 core schema numbers (what a reader other than PyYAML's YAML 1.1 makes of a plain scalar)
_INT_12 = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_12 = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def _number_12(text: str) -> int | float | str:
    """The value YAML 1.2 (core schema) gives a plain scalar that may be a number."""
    if _INT_12.fullmatch(text):
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        return int(text[2:] if base != 10 else text, base)
    return float(text) if _FLOAT_12.fullmatch(text) else text


def _said(value: object) -> str:
    return "text" if isinstance(value, str) else f"the number {value}"


def _ambiguity(node: yaml.ScalarNode) -> str | None:
    """Why a plain (unquoted, untagged) scalar cannot be trusted to mean what it says, if so."""
    text, tag = node.value, node.tag.removeprefix(_TAG)
    quote = f'quote it ("{text}")'
    if _BOOL_WORDS.fullmatch(text):
        return f"{text!r} is read as a boolean by YAML 1.1; {quote} or write true/false"
    if text == "~":
        return "'~' is read as null; write null, or quote it (\"~\")"
    if tag == "merge":
        return "the merge key '<<' is refused (YAML readers differ on it): write the keys out"
    if tag == "timestamp":
        return f"{text!r} is read as a date by YAML 1.1; {quote}"
    if tag in ("bool", "null"):  # true/false/null as YAML 1.2 writes them (the rest is refused above)
        return None
    if tag not in ("int", "float", "str"):
        return f"{text!r} is read as a YAML 1.1 {tag}; {quote}"
    old = yaml.safe_load(text) if tag != "str" else text
    if tag != "str" and ":" in text:
        return f"{text!r} is read as the base-60 number {old} by YAML 1.1; {quote}"
    if _SPECIAL_FLOAT.fullmatch(text):
        what = "infinity" if "inf" in text.lower() else "not a number"
        return f"{text!r} is read as {what}; write a number, or {quote}"
    new = _number_12(text)
    if type(old) is not type(new) or old != new:
        return (f"{text!r} is read as {_said(old)} by YAML 1.1 and as {_said(new)} by YAML 1.2; "
                f"{quote} or write a plain decimal number")
    return None


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses, with file and line, what it would otherwise guess at."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self._keys: dict[int, dict[tuple, int]] = {}  # mapping node -> its keys so far -> line

    def _refuse(self, node_or_event: Any, message: str) -> ConfigError:
        return ConfigError(f"{self.source}:{node_or_event.start_mark.line + 1}: {message}")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        tag = getattr(event, "tag", None)
        if tag is not None and tag != _TAG + "str":
            short = tag.replace(_TAG, "!!")
            raise self._refuse(event, f"the tag {short!r} is refused: write plain values (quote text)")
        plain = isinstance(event, yaml.ScalarEvent) and tag is None and event.style is None
        node = super().compose_node(parent, index)
        if plain and (why := _ambiguity(node)):
            raise self._refuse(node, why)
        if isinstance(parent, yaml.MappingNode) and index is None:  # `node` is a key of `parent`
            self._check_key(parent, node)
        return node

    def _check_key(self, mapping: yaml.MappingNode, key: yaml.Node) -> None:
        """PyYAML keeps the last of two equal keys: the first one's setting would silently vanish."""
        if not isinstance(key, yaml.ScalarNode):
            return  # a sequence or mapping as a key: the constructor refuses it, with its line
        ident = (key.tag, key.value if key.tag == _TAG + "str" else repr(yaml.safe_load(key.value)))
        seen = self._keys.setdefault(id(mapping), {})
        line = key.start_mark.line + 1
        if ident in seen:
            raise self._refuse(key, f"duplicate key {key.value!r} (first at line {seen[ident]})")
        seen[ident] = line


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
    """The document's data and the line of every key; ConfigError on YAML that does not parse
    or that could be read otherwise than it was meant."""
    loader = _StrictLoader(text, source)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    finally:
        loader.dispose()
    return data, (key_lines(node) if node is not None else {})


def validate[M: BaseModel](model: type[M], data: Any, source: str, positions: dict[tuple, int]) -> M:
    """`model` from `data`; one line naming file, line and field on the first fault."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        # A misspelt key shows as "extra" and as a missing field: name the typo first.
        err = sorted(e.errors(), key=lambda x: x["type"] != "extra_forbidden")[0]
        loc = tuple(err["loc"])
        # A model-wide check that blames one field (its error carries `loc`) points at that field.
        loc += tuple(getattr((err.get("ctx") or {}).get("error"), "loc", ()))
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
