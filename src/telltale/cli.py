"""The `telltale` command: one subcommand per job, each in the module that owns it.

Exit codes share one grammar so a pipeline can tell a result from a failure to get
one: 2 always means "could not judge" (an input that could not be read, a usage or
setup error, a crash), never a verdict. A crash is logged with its traceback and
named in one line; it must never pass for findings (1) or for a clean result (0).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from telltale.errors import TelltaleError

COULD_NOT_JUDGE = 2
MAX_LINE = 400  # of an internal error's message on stderr; the log has all of it

# What each command's exit codes mean: shown under its --help (and in the README's table).
EXIT_CODES = {
    "setup": "0 ready; 2 not set up (the message says what is missing)",
    "report": "0 report written; 2 not written (no run folder, no result in it, the report tool failed)",
    "run": "0 every requirement passed or was skipped; 1 a requirement failed; 2 could not judge (only "
           "broken scenarios, the suite could not run, a bad devices.yaml, or the run folder could not "
           "be finished: redaction, report or manifest; the next run finishes it); 5 no scenario ran; "
           "130 or 143 interrupted by SIGINT or SIGTERM (the folder is finished and marked incomplete)",
    "selftest": "0 every expected failure caught and every other requirement passed or skipped; "
                "1 an expectation not met (a broken scenario counts: the lab could not see); 2 could not "
                "judge (no scenario ran, or the run itself broke with every expectation met); "
                "130 or 143 interrupted",
    "lint": "0 the features are sound; 1 lint errors (listed); 2 could not check (pytest could not "
            "collect or run)",
    "verify": "0 every file and the signature hold; 1 FAILED (files changed, added or removed, or the "
              "signature invalid, missing or unverifiable, or a name or link leading outside the run "
              "folder); 2 could not judge (no readable manifest, one that lists no file, an unreadable "
              "--public-key)",
    "keygen": "0 key written; 2 not written (the file exists, or its folder does not)",
    "diff": "0 no new failure and no scenario missing; 1 new failures, or scenarios of the old run "
            "missing from the new (unless --accept-missing); 2 could not compare (not a finished run "
            "folder, an unreadable result)",
    "wireguard": "0 configuration printed; 2 not (device or endpoint wrong, no address)",
    "host": "0 stopped by SIGINT or SIGTERM after serving (every capture kept in its folder); 2 could not "
            "start (a bad devices.yaml, a token or secret not set, a device, Appium or the hub failing)",
    "scan": "0 nothing found; 1 findings; 2 could not judge: a file, record or HAR entry could not be "
            "read, or a capture is empty (each is named; the rest is still scanned and its findings "
            "printed). With --differential: 1 a value moves with the canary to a host not entitled to "
            "it; 2 a region changes on every run and no policy acceptance of kind opaque names its "
            "host, or a capture could not be read in full (nothing is compared); 0 neither",
    "destinations": "0 table printed; 2 could not judge: the capture is missing, empty or damaged "
                    "(what could not be read is named; the table of what could is still printed)",
}
COMMON = ("Every command: 2 also for a usage error or an internal error (one line on stderr; the "
          "traceback in a log file it names); 130 interrupted; 141 the reader of the output left.")


def _epilog(name: str) -> str:
    return f"exit codes: {EXIT_CODES[name]}. {COMMON}" if name in EXIT_CODES else COMMON


def _command_modules():
    """Each subcommand is registered by the module that owns it, in the order `--help` lists them."""
    from telltale import diff, lint, manifest, provision, report, runner, selftest, wgcli
    from telltale.destinations import cli as destinations_cli
    from telltale.detect import cli as detect_cli
    from telltale.farm import hostcli

    return (provision.register, report.register, runner.register, selftest.register, lint.register,
            manifest.register, diff.register, wgcli.register, detect_cli.register,
            destinations_cli.register, hostcli.register)


def _parser() -> argparse.ArgumentParser:
    from telltale import __version__

    p = argparse.ArgumentParser(
        prog="telltale", description="Privacy-compliance tests for phone firmware: run, report, scan.",
        epilog=COMMON)
    p.add_argument("--version", action="version", version=f"telltale {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _command_modules():
        register(sub)
    for name, cmd in sub.choices.items():
        cmd.epilog = _epilog(name)
    return p


def _log_dirs() -> list[Path]:
    """The checkout's state folder first; the system's temporary folder when that cannot be written."""
    try:
        from telltale import paths

        dirs = [paths.layout().state / "logs"]
    except Exception:  # noqa: BLE001 - a broken checkout must not hide the crash being logged
        dirs = []
    return [*dirs, Path(tempfile.gettempdir())]


def log_crash(exc: BaseException, argv: list[str]) -> Path | None:
    """Write the command line and the traceback of `exc` to a new log file; where it went, or None
    when no folder would take it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = f"telltale {' '.join(argv)}\n" + "".join(traceback.format_exception(exc))
    for d in _log_dirs():
        path = d / f"telltale-{stamp}-{os.getpid()}.log"
        try:
            d.mkdir(parents=True, exist_ok=True)
            # 0600, a new file only: the message may quote captured traffic, and /tmp is shared
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
                           encoding="utf-8") as fo:
                fo.write(text)
            return path
        except OSError:
            continue
    return None


def _crash_line(exc: BaseException, argv: list[str]) -> str:
    """One line for stderr: the exception, and where its traceback is."""
    where = log_crash(exc, argv)
    what = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(what) > MAX_LINE:
        what = what[: MAX_LINE - 1] + "…"
    tail = f"traceback in {where}" if where else "traceback not saved: no writable log folder"
    return f"telltale: internal error: {what} ({tail})"


def _dispatch(argv: list[str] | None) -> int:
    args, extra = _parser().parse_known_args(argv)
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


def main(argv: list[str] | None = None) -> int:
    """Every subcommand's one way out: its own code, or 2, 130 or 141; never an escaped exception."""
    try:
        code = _dispatch(argv)
        if sys.stdout is not None:
            sys.stdout.flush()  # a reader that left shows here, not after exit as Python's code 120
        return code
    except TelltaleError as e:
        print(f"telltale: error: {e}", file=sys.stderr)
        return COULD_NOT_JUDGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `telltale scan ... | head`: the reader left, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:  # noqa: BLE001 - a crash is "could not judge", never a verdict
        print(_crash_line(e, sys.argv[1:] if argv is None else argv), file=sys.stderr)
        return COULD_NOT_JUDGE


if __name__ == "__main__":
    sys.exit(main())
