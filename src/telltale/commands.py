"""Registers each subcommand from the module that owns it."""

from __future__ import annotations

import argparse


def _setup(args: argparse.Namespace) -> int:
    from telltale import paths, provision

    lay = paths.layout()
    provision.setup(lay, system=not args.no_system, node=not args.no_node)
    print(f"telltale setup: ready in {lay.root}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from telltale import paths, report
    from telltale.errors import TelltaleError

    lay = paths.layout()
    run_dir = Path(args.run_dir) if args.run_dir else lay.reports / "latest"
    if not run_dir.exists():
        raise TelltaleError(f"{run_dir}: no such run folder (run `tox -e compliance` first)")
    if not any((run_dir / "allure-results").glob("*-result.json")):
        raise TelltaleError(f"{run_dir / 'allure-results'}: no result to report on (a report of nothing "
                            "would read as a clean run)")
    print(f"telltale report: {report.generate(lay, run_dir.resolve())}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="install what a run needs (apt, npm ci, capture CA)")
    p.add_argument("--no-system", action="store_true", help="do not check Debian packages")
    p.add_argument("--no-node", action="store_true", help="do not run npm ci")
    p.set_defaults(func=_setup)

    p = sub.add_parser("report", help="make the single-file HTML report of a run again")
    p.add_argument("run_dir", nargs="?", help="run folder (default reports/latest)")
    p.set_defaults(func=_report)

    from telltale import bundle, diff, lint, runner, selftest, wgcli

    runner.register(sub)
    selftest.register(sub)
    lint.register(sub)
    bundle.register(sub)
    diff.register(sub)
    wgcli.register(sub)

    from telltale.destinations import cli as destinations_cli
    from telltale.detect import cli as detect_cli

    detect_cli.register(sub)
    destinations_cli.register(sub)
