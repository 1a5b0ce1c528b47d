"""The Appium 3 server, started from the project's own node_modules (APPIUM_HOME there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from telltale import procs
from telltale.errors import SetupError
from telltale.paths import Layout


class AppiumServer:
    """A local Appium server for one device; its temp folder (browser profiles) is removed at stop."""

    def __init__(self, lay: Layout, name: str, workdir: Path, drivers: str = "chromium",
                 address: str = "127.0.0.1", prefix: list[str] | None = None,
                 port: int | None = None) -> None:
        self.lay, self.name, self.drivers = lay, name, drivers
        # A sealed device's server runs inside its namespace (prefix) on the device-side address,
        # driven over the link as a phone is over USB or Wi-Fi.
        self.address, self.prefix = address, list(prefix or [])
        self.port = port or procs.free_port(address)
        self.workdir = workdir
        self.tmp: Path | None = None
        self.log = workdir / f"{name}-appium.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def start(self) -> None:
        exe = self.lay.node_bin / "appium"
        if not exe.exists():
            raise SetupError(f"{exe} is missing: run `telltale setup` (it runs npm ci)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # chromedriver puts a profile per session in TMPDIR; Chromium's singleton socket
        # lives there and a UNIX socket path must stay under 108 bytes, so the folder
        # is short, in the system temp, and removed at stop.
        self.tmp = Path(tempfile.mkdtemp(prefix="telltale-"))
        env = dict(os.environ)
        env.update(
            APPIUM_HOME=str(self.lay.root),
            # chromedriver leaves a profile per session in TMPDIR: keep them in the run's folder.
            TMPDIR=str(self.tmp),
            HOME=str(self.lay.browser_home),
        )
        cmd = [*self.prefix, str(exe), "--address", self.address, "--port", str(self.port),
               "--use-drivers", self.drivers, "--log-no-colors", "--log-timestamp"]
        self.proc = procs.spawn(cmd, self.log, env=env, cwd=self.lay.root)
        procs.ready_or_fail(self.proc, self.ready, 60, self.log,
                            f"Appium server for {self.name} did not start", self.stop, interval=0.1)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/status", timeout=2) as r:
                return bool(json.loads(r.read())["value"]["ready"])
        except (OSError, ValueError, KeyError):
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc, grace=10)
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
