"""`telltale lint`: check the requirements without a device (the check itself runs inside
pytest, where pytest-bdd knows the step vocabulary: see fixtures/lint.py)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from telltale import paths
from telltale.runner import SUITE


def run(args: argparse.Namespace) -> int:
    lay = paths.layout()
    cmd = [sys.executable, "-m", "pytest", args.suite or SUITE, "-qq", "-p", "no:cacheprovider",
           "--telltale-lint"]
    if args.catalogue:
        cmd.append(f"--telltale-catalogue={args.catalogue}")
    code = subprocess.call(cmd, cwd=lay.root)
    if code in (0, 1):  # 1: lint errors, listed by the check
        return code
    print(f"telltale lint: pytest ended with exit code {code}: the features were not checked",
          file=sys.stderr)
    return 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lint", help="check every feature without a device; write the step catalogue")
    p.add_argument("--catalogue", default=None, help="write the step catalogue (Markdown) to this file")
    p.add_argument("--suite", default=None, help=f"the module binding the features (default {SUITE})")
    p.set_defaults(func=run)
