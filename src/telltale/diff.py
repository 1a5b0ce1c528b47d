"""`telltale diff OLD_RUN NEW_RUN`: what changed between two firmware releases.

Scenarios are matched by feature file, scenario name, Examples values and
device. A requirement is newly failed, fixed, still failing or newly broken;
a scenario of the old run that the new run lacks is missing, one only the new
run has is added. Exit 1 when anything newly fails or is missing, so a release
pipeline stops on it: a smaller run must not pass for a clean one. A run that
leaves scenarios out on purpose is compared with `--accept-missing`, which
still lists them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from telltale import results, tables
from telltale.errors import TelltaleError

ABSENT = "absent"


@dataclass(frozen=True)
class Change:
    requirement: str
    scenario: str
    device: str
    old: str
    new: str


def _key(r: results.Result) -> tuple:
    """(feature:scenario, Examples values, device): how a scenario is matched across runs."""
    scenario = r.full_name or r.name
    if scenario is None:
        raise TelltaleError(f"{r.path}: not an Allure result (no name to match the scenario by)")
    params = tuple(sorted((k, v) for k, v in r.parameters.items() if k != "device"))
    return scenario, params


def load(run: Path) -> dict[tuple, tuple[str, str, str]]:
    """(feature:scenario, params, device) -> (requirement, scenario name, status)."""
    folder = run / "allure-results"
    if not folder.is_dir():
        raise TelltaleError(f"{run}: not a run folder (no allure-results/)")
    read = results.read_results(folder)
    if not read:
        raise TelltaleError(f"{folder}: no {results.RESULT_GLOB}: not a finished run")
    default = results.environment(folder).get("device", "unknown")
    out = {}
    for r in read:
        scenario, params = _key(r)
        key = (scenario, params, r.label("device", default))
        out[key] = (r.label("requirement", "-"), r.name if r.name is not None else scenario, r.status)
    return out


def compare(old: dict, new: dict) -> dict[str, list[Change]]:
    res: dict[str, list[Change]] = {"new_failures": [], "fixed": [], "still_failing": [],
                                    "newly_broken": [], "missing": [], "added": []}
    for key in sorted(old.keys() | new.keys(), key=str):
        req, name, _ = new[key] if key in new else old[key]
        old_status = old[key][2] if key in old else ABSENT
        new_status = new[key][2] if key in new else ABSENT
        change = Change(req, name, key[2], old_status, new_status)
        if new_status == ABSENT:
            res["missing"].append(change)
        elif old_status == ABSENT:
            res["added"].append(change)
        if new_status == "failed":
            res["still_failing" if old_status == "failed" else "new_failures"].append(change)
        elif old_status == "failed" and new_status == "passed":
            res["fixed"].append(change)
        if new_status == "broken" and old_status != "broken":
            res["newly_broken"].append(change)
    return res


def _scope(changes: list[Change]) -> str:
    """`N scenario(s) (requirements X, Y; devices Z)`: what a set of scenarios covers."""
    if not changes:
        return "0 scenario(s)"
    reqs = ", ".join(sorted({c.requirement for c in changes}))
    devices = ", ".join(sorted({c.device for c in changes}))
    return f"{len(changes)} scenario(s) (requirements {reqs}; devices {devices})"


def _heading(kind: str, changes: list[Change]) -> str:
    if kind == "missing":
        return f"missing in new run: {_scope(changes)}"
    if kind == "added":
        return f"added in new run: {_scope(changes)}"
    return f"{kind.replace('_', ' ')}: {len(changes)}"


def _gate(result: dict[str, list[Change]], accept_missing: bool) -> tuple[int, str]:
    """The exit status and the line that says why."""
    reasons = []
    if result["new_failures"]:
        reasons.append(f"{len(result['new_failures'])} new failure(s)")
    missing = len(result["missing"])
    if missing and not accept_missing:
        reasons.append(f"{missing} scenario(s) missing in the new run (--accept-missing accepts them)")
    accepted = ""
    if missing and accept_missing:
        accepted = f" ({missing} missing scenario(s) accepted with --accept-missing)"
    if reasons:
        return 1, f"gate: failed: {'; '.join(reasons)}{accepted}"
    return 0, f"gate: passed{accepted}"


def _cmd(args: argparse.Namespace) -> int:
    result = compare(load(Path(args.old)), load(Path(args.new)))
    status, verdict = _gate(result, args.accept_missing)
    if args.format == "json":
        print(json.dumps({k: [asdict(c) for c in v] for k, v in result.items()}, indent=1))
        return status
    for kind, changes in result.items():
        print(_heading(kind, changes))
        if changes:
            rows = [(c.requirement, c.device, c.old, "->", c.new, c.scenario) for c in changes]
            print(tables.table(None, rows, widths=(12, 22, 8, 2, 8), right={2}, sep=" ", indent="  "))
    print(verdict)
    return status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two runs: new failures, fixed, still failing, newly broken, "
                                    "missing and added scenarios")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--accept-missing", action="store_true",
                   help="scenarios of OLD that NEW lacks do not fail the comparison (still listed)")
    p.set_defaults(func=_cmd)
