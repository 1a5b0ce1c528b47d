"""The one reader of a run's Allure results: result files, labels, parameters, attachments, environment.

The run summary, `telltale diff`, the matrix, the selftest and the sweep's final
verdicts all judge the same files; read in one place, a label repeated, a value of
an odd type or an attachment nested in a step means the same to each of them, and
a file that cannot be read is named rather than crashing the command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, overload

from telltale.errors import TelltaleError

RESULT_GLOB = "*-result.json"
ENVIRONMENT = "environment.properties"


class UnreadableResult(TelltaleError):
    """A result (or a file it names) that cannot be read; the message names the file."""

    def __init__(self, path: Path, why: str):
        self.path = path
        super().__init__(f"{path}: {why}")


@dataclass(frozen=True)
class Result:
    """One scenario's Allure result, as every reader in Telltale sees it.

    Labels are multi-valued (a scenario has several regulations; where one value is
    meant, the first counts); values are strings whatever the file held; entries of
    another shape are left out. `attachments` maps a name to its sources, the
    result's own first, then its steps' (depth first): a name can repeat (the
    window's findings.json and the sweep's). `message` is the status details' message
    ("" without one). `raw` is the JSON as read: copy it before changing it.
    """

    path: Path
    name: str | None
    full_name: str | None
    status: str
    message: str
    labels: Mapping[str, tuple[str, ...]]
    parameters: Mapping[str, str]
    attachments: Mapping[str, tuple[str, ...]]
    raw: Mapping[str, Any]

    @property
    def folder(self) -> Path:
        """The results folder: where the attachments' sources are."""
        return self.path.parent

    @overload
    def label(self, name: str) -> str | None: ...
    @overload
    def label(self, name: str, default: str) -> str: ...

    def label(self, name: str, default: str | None = None) -> str | None:
        """The first value of a label."""
        values = self.labels.get(name)
        return values[0] if values else default

    def sources(self, name: str) -> tuple[str, ...]:
        return self.attachments.get(name, ())

    def attachment_json(self, source: str) -> Any:
        """An attachment's JSON; an unreadable one is named."""
        path = self.folder / source
        try:
            return json.loads(_text(path))
        except ValueError as e:
            raise UnreadableResult(path, f"unreadable attachment: {e}") from None


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise UnreadableResult(path, f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise UnreadableResult(path, f"not UTF-8 text (byte {e.start})") from None


def _pairs(items: object, key: str = "value") -> list[tuple[str, str]]:
    """(name, value) of Allure labels or parameters; entries of another shape are skipped."""
    if not isinstance(items, list):
        return []
    return [(str(i["name"]), str(i[key])) for i in items if isinstance(i, dict) and "name" in i and key in i]


def _multi(pairs: list[tuple[str, str]]) -> Mapping[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, value in pairs:
        out[name] = out.get(name, ()) + (value,)
    return MappingProxyType(out)


def _attachments(result: Mapping) -> list[tuple[str, str]]:
    """(name, source) of a result's attachments, then of its steps', depth first (without
    recursion: how deep steps nest is the file's to say)."""
    out: list[tuple[str, str]] = []
    todo: list[Mapping] = [result]
    while todo:
        node = todo.pop()
        out += _pairs(node.get("attachments"), "source")
        steps = node.get("steps")
        if isinstance(steps, list):
            todo += [s for s in reversed(steps) if isinstance(s, dict)]
    return out


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse(raw: object, path: Path) -> Result:
    """A result from its parsed JSON (`path` names it and locates its attachments)."""
    if not isinstance(raw, dict):
        raise UnreadableResult(path, "not an Allure result (a JSON object is expected)")
    status = raw.get("status")
    details = raw.get("statusDetails")
    message = details.get("message") if isinstance(details, dict) else None
    params: dict[str, str] = {}
    for name, value in _pairs(raw.get("parameters")):
        params.setdefault(name, value)  # the first of a repeated parameter counts, as for labels
    return Result(
        path=path, name=_str_or_none(raw.get("name")), full_name=_str_or_none(raw.get("fullName")),
        status=status if isinstance(status, str) and status else "unknown",
        message=message if isinstance(message, str) else "",
        labels=_multi(_pairs(raw.get("labels"))), parameters=MappingProxyType(params),
        attachments=_multi(_attachments(raw)), raw=raw)


def read_result(path: Path) -> Result:
    """One result file; UnreadableResult (naming it) when it is no readable Allure result."""
    try:
        raw = json.loads(_text(path))
    except ValueError as e:
        raise UnreadableResult(path, f"unreadable result: {e}") from None
    except RecursionError:
        raise UnreadableResult(path, "unreadable result: nested too deeply") from None
    return parse(raw, path)


def result_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(RESULT_GLOB))


def read_results(folder: Path, unreadable: list[UnreadableResult] | None = None) -> list[Result]:
    """Every result of a results folder, in file-name order.

    The first file that cannot be read raises, naming it; with an `unreadable` list,
    such files are put there instead and the rest is read (a summary still counts them).
    """
    out = []
    for path in result_files(folder):
        try:
            out.append(read_result(path))
        except UnreadableResult as e:
            if unreadable is None:
                raise
            unreadable.append(e)
    return out


def environment(folder: Path) -> dict[str, str]:
    """The results folder's environment.properties (`key=value` lines); {} when there is none."""
    path = folder / ENVIRONMENT
    if not path.exists():
        return {}
    out = {}
    for line in _text(path).splitlines():
        if "=" in line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            out[key] = value
    return out
