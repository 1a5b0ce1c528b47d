"""`telltale diff OLD_RUN NEW_RUN`: what changed between two firmware releases.

Scenarios are matched by feature file, scenario name, Examples values and
device. A requirement is newly failed, fixed, still failing or newly broken;
exit 1 when anything newly fails, so a release pipeline can stop on it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from telltale.errors import TelltaleError


@dataclass(frozen=True)
class Change:
    requirement: str
    scenario: str
    device: str
    old: str
    new: str


def _device_default(run: Path) -> str:
    env = run / "allure-results" / "environment.properties"
    if env.exists():
        for line in env.read_text().splitlines():
            if line.startswith("device="):
                return line.partition("=")[2]
    return "unknown"


def load(run: Path) -> dict[tuple, tuple[str, str, str]]:
    """(feature:scenario, params, device) -> (requirement, scenario name, status)."""
    folder = run / "allure-results"
    if not folder.is_dir():
        raise TelltaleError(f"{run}: not a run folder (no allure-results/)")
    default = _device_default(run)
    out = {}
    for f in sorted(folder.glob("*-result.json")):
        try:
            r = json.loads(f.read_text())
        except ValueError as e:
            raise TelltaleError(f"{f}: unreadable result: {e}") from None
        labels = {}
        for lab in r.get("labels", []):
            labels.setdefault(lab["name"], lab["value"])
        device = labels.get("device", default)
        params = tuple(sorted((p["name"], p["value"]) for p in r.get("parameters", [])
                              if p["name"] != "device"))
        key = (r.get("fullName") or r.get("name"), params, device)
        out[key] = (labels.get("requirement", "-"), r.get("name", "?"), r.get("status", "unknown"))
    return out


def compare(old: dict, new: dict) -> dict[str, list[Change]]:
    res: dict[str, list[Change]] = {"new_failures": [], "fixed": [], "still_failing": [],
                                    "newly_broken": []}
    for key in sorted(old.keys() | new.keys(), key=str):
        req, name, new_status = new.get(key, (old[key][0], old[key][1], "absent"))
        old_status = old[key][2] if key in old else "absent"
        change = Change(req, name, key[2], old_status, new_status)
        if new_status == "failed":
            res["still_failing" if old_status == "failed" else "new_failures"].append(change)
        elif old_status == "failed" and new_status == "passed":
            res["fixed"].append(change)
        if new_status == "broken" and old_status != "broken":
            res["newly_broken"].append(change)
    return res


def _cmd(args: argparse.Namespace) -> int:
    result = compare(load(Path(args.old)), load(Path(args.new)))
    if args.format == "json":
        print(json.dumps({k: [asdict(c) for c in v] for k, v in result.items()}, indent=1))
    else:
        for kind, changes in result.items():
            print(f"{kind.replace('_', ' ')}: {len(changes)}")
            for c in changes:
                print(f"  {c.requirement:12} {c.device:22} {c.old:>8} -> {c.new:8} {c.scenario}")
    return 1 if result["new_failures"] else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two runs: new failures, fixed, still failing, newly broken")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd)
