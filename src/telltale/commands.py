"""Registers each subcommand from the module that owns it."""

from __future__ import annotations

import argparse


def _setup(args: argparse.Namespace) -> int:
    from telltale import paths, provision

    lay = paths.layout()
    provision.setup(lay, system=not args.no_system, node=not args.no_node)
    print(f"telltale setup: ready in {lay.root}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="install what a run needs (apt, npm ci, capture CA)")
    p.add_argument("--no-system", action="store_true", help="do not check Debian packages")
    p.add_argument("--no-node", action="store_true", help="do not run npm ci")
    p.set_defaults(func=_setup)

    try:
        from telltale.detect import cli as detect_cli
    except ImportError:  # the detection engine is being built beside this
        detect_cli = None
    if detect_cli is not None and hasattr(detect_cli, "register"):
        detect_cli.register(sub)
