"""One mitmdump process per device, with Telltale's addon, on a free loopback port.

The harness talks to the addon through the proxy itself (control requests to
``telltale.invalid``), so a window can only be opened or closed while the proxy
really forwards traffic: a dead proxy cannot be mistaken for a quiet device.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from telltale import procs
from telltale.capture import auth
from telltale.capture.addon import CONTROL_HOST
from telltale.errors import CaptureBroken, SetupError
from telltale.net import is_loopback

ADDON = Path(__file__).with_name("addon.py")



def mitmdump_command() -> list[str]:
    """mitmdump of the interpreter running Telltale (the venv's, not another one)."""
    beside = Path(sys.executable).with_name("mitmdump")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mitmdump")
    if found:
        return [found]
    raise SetupError("mitmdump not found: install Telltale with its dependencies (pip install -e .)")


@dataclass(frozen=True)
class WindowSpan:
    """Where a closed window's flows are: the capture file and the byte range of its records,
    and when (the proxy's clock) it opened and closed, for the packet record."""

    window: str
    capture: Path
    start: int
    end: int
    in_flight: int
    tls_failures: tuple[dict, ...]
    opened: float | None = None
    closed: float | None = None
    tls_clients: tuple[str, ...] = ()  # client "ip:port"s that completed TLS with the capture


@dataclass(frozen=True)
class Listeners:
    """Where the device's traffic enters the capture, besides the control listener.

    proxy: the device's proxy setting points at (host, port) (regular mode, as before);
    sealed: transparent TCP and DNS on the capture side of the device's link;
    wireguard: mitmproxy's WireGuard server (its `--mode` spec is given whole)."""

    kind: str = "proxy"
    host: str = "127.0.0.1"
    transparent_port: int = 0
    dns_port: int = 0
    wireguard_spec: str = ""

    def modes(self) -> list[str]:
        if self.kind == "sealed":
            return [f"transparent@{self.host}:{self.transparent_port}", f"dns@{self.host}:{self.dns_port}"]
        if self.kind == "wireguard":
            return [self.wireguard_spec]
        return []


class CaptureProxy:
    """A running mitmdump writing `<name>-<n>.mitm` files into `folder`."""

    def __init__(self, name: str, folder: Path, confdir: Path, upstream: str = "offline",
                 host: str = "127.0.0.1", port: int = 0, inflight_grace: float = 5.0,
                 hosts: dict[str, str] | None = None, log_dir: Path | None = None,
                 auth: str | None = None, listeners: Listeners | None = None,
                 prefix: list[str] | None = None) -> None:
        if not is_loopback(host) and not auth:
            raise SetupError(
                f"capture proxy for {name}: refusing to listen on {host} without proxy "
                "authentication: anyone who reaches that address could use the proxy and read "
                "what it captured. Set proxy.auth_env in devices.yaml (an environment variable "
                "holding user:password), or use a loopback address"
            )
        if auth is not None and ":" not in auth:
            raise SetupError(f"capture proxy for {name}: proxy credentials must be user:password")
        self.auth = auth
        self.name, self.folder, self.confdir = name, folder, confdir
        self.upstream, self.host, self.inflight_grace = upstream, host, inflight_grace
        self.hosts = dict(hosts or {})
        self.port = port or procs.free_port(host)
        # On one network address only: browsers of this machine get a loopback entry of their own.
        wildcard = host in ("0.0.0.0", "::")
        self.local_port = procs.free_port("127.0.0.1") if not (is_loopback(host) or wildcard) else 0
        # The device's entry (sealed, wireguard) is separate from the regular listener, which
        # then serves only the harness's control requests, on loopback.
        self.listeners = listeners or Listeners()
        self.prefix = list(prefix or [])
        self.proc: subprocess.Popen | None = None
        self.incarnation = 0
        self.capture: Path | None = None
        self.captures: list[Path] = []
        # Operational logs are not evidence (they may echo what the harness typed): kept apart.
        self.log = (log_dir or folder) / f"{name}-proxy.log"
        self._open: tuple[str, int] | None = None
        self._opened: float | None = None
        self.witness = None  # a sealed device's packet record (capture/station.py Witness)
        self.on_spawn = None  # called with each mitmdump PID (a sealed slot records it for cleanup)

    @property
    def url(self) -> str:
        """Where the device points its proxy setting (without credentials)."""
        return f"http://{self.host}:{self.port}"

    @property
    def local_url(self) -> str:
        """Where a browser on this machine points its proxy setting: a loopback address (the capture
        asks clients beyond loopback for credentials, and a browser cannot give them unattended)."""
        if self.local_port:
            return f"http://127.0.0.1:{self.local_port}"
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}"

    @property
    def _control_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        creds = f"{self.auth}@" if self.auth else ""
        return f"http://{creds}{host}:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.incarnation += 1
        self.capture = self.folder / f"{self.name}-{self.incarnation}.mitm"
        self.captures.append(self.capture)
        modes = [f"regular@{self.host}:{self.port}", *self.listeners.modes(),
                 *([f"regular@127.0.0.1:{self.local_port}"] if self.local_port else [])]
        cmd = self.prefix + mitmdump_command() + [
            "--quiet", *(a for m in modes for a in ("--mode", m)),
            "--set", f"confdir={self.confdir}",
            # Without lazy, HTTPS to an unresolvable host fails before the addon can answer.
            "--set", "connection_strategy=lazy",
            "--set", f"telltale_upstream={self.upstream}",
            "--set", f"telltale_capture={self.capture}",
            "--set", f"telltale_events={self.folder / f'{self.name}-events.jsonl'}",
            "--set", f"telltale_inflight_ms={int(self.inflight_grace * 1000)}",
            "-s", str(ADDON),
        ]
        if self.auth:  # the path of a bcrypt hash, never the credentials themselves
            htpasswd = auth.write_htpasswd(self.log.parent / f"{self.name}-proxy.htpasswd", self.auth)
            cmd[-2:-2] = ["--set", f"{auth.OPTION}={htpasswd}"]
        if self.hosts:
            hosts_file = self.folder / f"{self.name}-hosts.json"
            hosts_file.write_text(json.dumps(self.hosts, indent=1, sort_keys=True))
            cmd[-2:-2] = ["--set", f"telltale_hosts={hosts_file}"]
        self.proc = procs.spawn(cmd, self.log)
        if self.on_spawn is not None:
            self.on_spawn(self.proc.pid)
        procs.ready_or_fail(self.proc, self._answers, 30, self.log,
                            f"capture proxy for {self.name} did not start on {self.url}", self.stop)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self) -> bool:
        """Restart a dead proxy on the same port (the device still points there); True if restarted."""
        if self.alive():
            return False
        if self.proc is not None:
            procs.stop(self.proc)
        self.start()
        return True

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc)

    def control(self, path: str, timeout: float = 10.0) -> dict:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": self._control_url}))
        with opener.open(f"http://{CONTROL_HOST}{path}", timeout=timeout) as r:
            return json.loads(r.read())

    def _answers(self) -> bool:
        try:
            return self.control("/status", timeout=2).get("upstream") == self.upstream
        except (OSError, ValueError):
            return False

    def open_window(self, window: str) -> None:
        if not self.alive():
            raise CaptureBroken(f"capture proxy for {self.name} is not running")
        try:
            reply = self.control(f"/window/open?id={window}")
        except (OSError, ValueError) as e:
            raise CaptureBroken(f"capture proxy for {self.name} did not open window {window}: {e}") from e
        self._open = (window, int(reply["offset"]))
        self._opened = reply.get("time")

    def close_window(self) -> WindowSpan:
        """Close the open window; CaptureBroken if the proxy cannot vouch for it."""
        if self._open is None:
            raise CaptureBroken(f"no capture window is open on {self.name}")
        window, start = self._open
        self._open = None
        capture = self.capture
        try:
            reply = self.control("/window/close", timeout=self.inflight_grace + 10)
        except (OSError, ValueError) as e:
            code = self.proc.poll() if self.proc else None
            raise CaptureBroken(
                f"capture proxy for {self.name} stopped during window {window} "
                f"(exit code {code}): traffic after that was not observed; flows captured "
                f"before are kept in {capture}"
            ) from e
        if reply.get("window") != window:
            raise CaptureBroken(
                f"capture proxy for {self.name} lost window {window} (it had {reply.get('window')!r}):"
                " it was restarted during the scenario"
            )
        return WindowSpan(window, capture, start, int(reply["offset"]), int(reply["in_flight"]),
                          tuple(reply.get("tls_failures") or ()), self._opened,
                          reply.get("time"), tuple(reply.get("tls_clients") or ()))
