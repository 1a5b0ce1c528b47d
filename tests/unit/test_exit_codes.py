"""Exit codes through the real command line: a crash or an unusable input is 2 ("could not
judge"), one line on stderr, never 1 (findings, FAILED, new failures) nor 0.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from telltale import cli
from tests.detect.cli_inputs import CANARY, telltale

LOGGED = re.compile(r"^telltale: internal error: (\w+): .* \(traceback in (.+)\)$")


def _crash(proc) -> tuple[str, Path]:
    """The exception named by a crash's one line on stderr, and the log it points to."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    m = LOGGED.match(lines[0])
    assert m, lines[0]
    return m.group(1), Path(m.group(2))


# A bug in a command, planted: the real `telltale verify` entry, whose engine raises. (Every crash
# that real inputs caused is fixed; the net under them must hold for the next one.)
_BUGGY_VERIFY = """
import sys
from telltale import cli, manifest
def verify(run, public_key=None):
    raise TypeError("a bug in verify")
manifest.verify = verify
sys.exit(cli.main(sys.argv[1:]))
"""


def _buggy(*args: str, root: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "TELLTALE_ROOT": str(root), **(env or {})}
    return subprocess.run([sys.executable, "-c", _BUGGY_VERIFY, *args], cwd=root if root.is_dir() else None,
                          env=full, capture_output=True, text=True, timeout=120)


def test_a_crash_is_exit_2_in_one_line_with_the_traceback_in_a_log(tmp_path):
    """An uncaught exception exited 1, which `verify` uses for FAILED (and scan for findings)."""
    run = tmp_path / "run"
    run.mkdir()
    name, log = _crash(_buggy("verify", str(run), root=tmp_path))
    assert name == "TypeError"
    assert log.parent == tmp_path / ".telltale" / "logs"
    assert re.fullmatch(r"telltale-\d{8}T\d{6}Z-\d+\.log", log.name)
    assert log.stat().st_mode & 0o777 == 0o600, "a traceback may quote captured traffic"
    text = log.read_text()
    assert text.startswith(f"telltale verify {run}\n") and "Traceback (most recent call last)" in text
    assert "a bug in verify" in text


def test_without_a_writable_checkout_the_log_goes_to_the_temp_folder(tmp_path):
    not_a_folder = tmp_path / "root"
    not_a_folder.write_text("a file: <root>/.telltale cannot be made under it")
    run = tmp_path / "run"
    run.mkdir()
    temp = tmp_path / "tmp"
    temp.mkdir()
    _, log = _crash(_buggy("verify", str(run), root=not_a_folder, env={"TMPDIR": str(temp)}))
    assert log.parent == temp and "Traceback" in log.read_text()


def test_a_manifest_that_is_no_map_of_files_cannot_be_judged(tmp_path):
    """A manifest that is JSON but no object made `verify` raise TypeError and exit 1 (FAILED)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("[]")
    proc = telltale("verify", str(run), root=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("telltale: error:") and "manifest" in proc.stderr


def test_a_scan_that_breaks_on_a_capture_is_never_findings(tmp_path):
    """A HAR nested deeper than the JSON parser goes: it made `scan` exit 1, "findings"."""
    har = tmp_path / "deep.har"
    har.write_bytes(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    proc = telltale("scan", str(har), "--canary", f"token={CANARY}", root=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert f"{har}: HAR: nested too deeply" in proc.stdout + proc.stderr


def test_keygen_over_an_existing_key_is_refused_in_one_line(tmp_path):
    key = tmp_path / "signing.pem"
    assert telltale("keygen", str(key), root=tmp_path).returncode == 0
    before = key.read_bytes()
    proc = telltale("keygen", str(key), root=tmp_path)
    assert proc.returncode == 2 and proc.stderr == f"telltale: error: {key}: exists; not overwritten " \
                                                   "(a key in use must not be lost)\n"
    assert key.read_bytes() == before


def test_verify_with_a_public_key_that_cannot_be_read_could_not_judge(tmp_path):
    """The signature was not checked: that is not FAILED (1), which says the bundle was altered."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"files": {}}))
    proc = telltale("verify", str(run), "--public-key", str(tmp_path / "missing.pub.pem"), root=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.startswith(f"telltale: error: {tmp_path / 'missing.pub.pem'}: not a readable PEM")


def test_every_command_says_what_its_exit_codes_mean():
    sub = next(a for a in cli._parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(cli.EXIT_CODES), "a command without its exit codes, or a stale entry"
    for name, parser in sub.choices.items():
        assert f"exit codes: {cli.EXIT_CODES[name]}" in parser.epilog
    out = telltale("scan", "--help").stdout
    assert "exit codes: 0 nothing found; 1 findings; 2 could not judge" in " ".join(out.split())


def test_a_report_of_no_result_is_refused(tmp_path):
    (tmp_path / "run" / "allure-results").mkdir(parents=True)
    proc = telltale("report", str(tmp_path / "run"))
    assert proc.returncode == 2 and "no result to report on" in proc.stderr, proc.stderr
    assert not (tmp_path / "run" / "report.html").exists()


def test_the_readme_says_what_every_exit_code_means():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name, text in cli.EXIT_CODES.items():
        assert f"| `{name}` | {text} |" in readme, f"README's exit-code table is stale for {name}"
    assert cli.COMMON in readme


def test_every_kind_of_lost_verdict_is_a_no_verdict():
    """Steps and fixtures raise the kind that says where the verdict was lost; all of them are
    NoVerdict, so whatever marks a scenario broken needs to know one class."""
    from telltale import errors

    kinds = (errors.CaptureBroken, errors.ActionFailed, errors.PolicyCannotJudge)
    assert all(issubclass(k, errors.NoVerdict) for k in kinds)
    assert not issubclass(errors.ConfigError, errors.NoVerdict), "a bad file stops the run; it is no verdict"
