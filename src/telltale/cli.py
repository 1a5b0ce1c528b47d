"""The `telltale` command: one subcommand per job, each in the module that owns it."""

from __future__ import annotations

import argparse
import sys

from telltale.errors import TelltaleError


def _parser() -> argparse.ArgumentParser:
    from telltale import __version__

    p = argparse.ArgumentParser(
        prog="telltale", description="Privacy-compliance tests for phone firmware: run, report, scan.")
    p.add_argument("--version", action="version", version=f"telltale {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from telltale import commands

    commands.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args, extra = _parser().parse_known_args(argv)
    try:
        runner_kind = getattr(args, "_runner", None)
        if runner_kind == "selftest":
            from telltale import selftest

            return selftest.run(args, extra)
        if runner_kind:  # `telltale run` passes the rest to pytest
            from telltale import runner

            return runner.run(args, extra)
        if extra:
            _parser().error(f"unrecognized arguments: {' '.join(extra)}")
        return int(args.func(args) or 0)
    except TelltaleError as e:
        print(f"telltale: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `telltale scan ... | head`: the reader left, not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
