"""Final verdicts: the run-wide sweep's late leaks written into the scenarios' Allure results.

A scenario's result is written when it ends; the sweep runs after the device's last
scenario and its drain. What it finds changes that result in place (status, message,
evidence, how long the device was watched), before the report, the matrix, the manifest
or `telltale diff` read it: no artefact keeps the provisional verdict.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from telltale import results
from telltale.sweep import LateLeak

WINDOW_LABEL = "window"
MESSAGE_LINES = 5


def results_by_window(results_dir: Path, device: str | None = None) -> dict[str, results.Result]:
    """The results of one device's scenarios by window id (ids are unique per device, not per run:
    parallel workers number their windows each from 1). A result that cannot be read is not
    rewritten: the report and `telltale diff` name it."""
    out = {}
    for r in results.read_results(results_dir, unreadable=[]):
        w = r.label(WINDOW_LABEL)
        if w and (device is None or r.label("device") == device):
            out[w] = r
    return out


def _attach(results_dir: Path, result: dict, name: str, text: str, mime: str, ext: str) -> None:
    source = f"{uuid.uuid4()}-attachment.{ext}"
    (results_dir / source).write_text(text, encoding="utf-8")
    result.setdefault("attachments", []).append({"name": name, "source": source, "type": mime})


def _set_parameter(result: dict, name: str, value: str) -> None:
    params = [p for p in result.get("parameters") or []
              if not (isinstance(p, dict) and p.get("name") == name)]
    result["parameters"] = params + [{"name": name, "value": value}]


def apply(results_dir: Path, late: Sequence[LateLeak], observed: Mapping[str, str],
          evidence: Mapping[str, str] | None = None,
          unseen: Mapping[str, Sequence[str]] | None = None, device: str | None = None) -> list[str]:
    """Rewrite the results of the swept scenarios; returns the names of those that now fail.

    Every result gets how long the device was watched after its action; a result with late
    leaks becomes failed (a finding is proof, whatever the window said), with the leaks first
    in its message, a findings.json of them and, where given, the decoded requests; a passed
    result whose window holds traffic no reader examined (`unseen`) becomes broken."""
    by_window = results_by_window(results_dir, device)
    unseen = unseen or {}
    leaks: dict[str, list[LateLeak]] = {}
    for leak in late:
        leaks.setdefault(leak.window, []).append(leak)
    failed = []
    for window, read in by_window.items():
        r = copy.deepcopy(dict(read.raw))
        if window in observed:
            _set_parameter(r, "observed after the action", observed[window])
        mine = leaks.get(window)
        if mine and read.status != "skipped":
            lines = [leak.message() for leak in mine[:MESSAGE_LINES]]
            if len(mine) > MESSAGE_LINES:
                lines.append(f"... and {len(mine) - MESSAGE_LINES} more late copies (findings.json)")
            old, prior = read.message, read.status
            r["status"] = "failed"
            details = r["statusDetails"] = dict(r.get("statusDetails") or {})
            before = f"\n\nbefore the sweep ({prior}): {old}" if old else ""
            details["message"] = "\n".join(lines) + before
            rows = [{**leak.to_dict(), "late": leak.message()} for leak in mine]
            _attach(results_dir, r, "findings.json", json.dumps(rows, indent=1), "application/json", "json")
            if evidence and evidence.get(window):
                _attach(results_dir, r, "late leaks (decoded requests)", evidence[window], "text/plain",
                        "txt")
            failed.append(read.name or window)
        elif unseen.get(window) and read.status == "passed":
            # The packet record shows traffic of this window that no reader examined: no pass.
            r["status"] = "broken"
            r["statusDetails"] = dict(r.get("statusDetails") or {})
            r["statusDetails"]["message"] = (
                "the run-wide account of the packet record found traffic the capture never recorded "
                "in this window: " + "; ".join(unseen[window][:MESSAGE_LINES]))
        tmp = read.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(r), encoding="utf-8")
        tmp.replace(read.path)
    return failed
