"""The lab's firmware processes: started with the device, inside its network, stopped after it.

A lab runs its own firmware components (a telemetry service, an updater, the leaky
reference agent) next to the browser, in the device's namespace, so they have no way out
but the capture, like the browser. Each gets the same environment:

- TELLTALE_DEVICE: the device name
- TELLTALE_DEVTOOLS_WATCH: the folder in which each browser's profile folder (with its
  DevToolsActivePort file) appears
- TELLTALE_CA_CERT: the capture CA (PEM), as a lab build trusts it system-wide
- TELLTALE_IDENTIFIERS: the device's identifiers, as JSON
- TELLTALE_IDENTIFIERS_FILE: the same, in a JSON file the lab rewrites while a differential
  run gives the device a second set; firmware that reads it on each use takes part in
  identifier differentials (telltale.differential_run)
- TELLTALE_PROXY: only for a device whose boundary is its proxy setting
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from telltale import procs
from telltale.errors import SetupError
from telltale.inventory import Device


class Network(Protocol):
    """What a firmware process needs of the device's capture (capture/station.py's Station)."""

    def exec_prefix(self) -> list[str]: ...

    @property
    def proxy(self): ...


CONTRACT = ("TELLTALE_DEVICE", "TELLTALE_DEVTOOLS_WATCH", "TELLTALE_CA_CERT", "TELLTALE_IDENTIFIERS",
            "TELLTALE_IDENTIFIERS_FILE", "TELLTALE_PROXY")


class LabIdentifiers:
    """The identifiers file the lab's firmware processes read on each use: the lab sets the
    identifiers of its own firmware, so a differential run can give them a second set."""

    def __init__(self, path: Path, identifiers: Mapping[str, str]) -> None:
        self.path, self.identifiers = path, dict(identifiers)
        self.write(self.identifiers)

    def __repr__(self) -> str:
        return f"LabIdentifiers({self.path.name})"

    def write(self, values: Mapping[str, str]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(dict(values), sort_keys=True))
        os.replace(tmp, self.path)  # a reader sees the old set or the new, never half of one

    @contextmanager
    def varied(self, values: Mapping[str, str]) -> Iterator[None]:
        """The firmware sees `values` until the block ends, then the device's own again."""
        self.write(values)
        try:
            yield
        finally:
            self.write(self.identifiers)


def contract(device: Device, watch: Path | None, ca_cert: Path, proxy_url: str | None,
             identifiers_file: Path | None = None) -> dict[str, str]:
    """The TELLTALE_* variables a firmware process of `device` reads (no proxy, no TELLTALE_PROXY)."""
    env = {"TELLTALE_DEVICE": device.name, "TELLTALE_CA_CERT": str(ca_cert),
           "TELLTALE_IDENTIFIERS": json.dumps(dict(device.identifiers), sort_keys=True)}
    if identifiers_file is not None:
        env["TELLTALE_IDENTIFIERS_FILE"] = str(identifiers_file)
    if watch is not None:
        env["TELLTALE_DEVTOOLS_WATCH"] = str(watch)
    if proxy_url:
        env["TELLTALE_PROXY"] = proxy_url
    return env


def environment(device: Device, watch: Path | None, ca_cert: Path, proxy_url: str | None,
                identifiers_file: Path | None = None) -> dict[str, str]:
    """This process's environment with the device's contract in place of any inherited one (tox
    passes TELLTALE_* through: a stale value must not reach the device)."""
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT}
    return env | contract(device, watch, ca_cert, proxy_url, identifiers_file)


def commands(device: Device, logs: Path) -> list[tuple[str, list[str]]]:
    """(name, argv) of every firmware process of the device, the reference agent included."""
    out = [(p.name, list(p.command)) for p in device.firmware_processes]
    if device.telemetry_agent is not None:
        from telltale.reference.launch import agent_command

        out.append(("reference-agent", agent_command(device, logs)))
    return out


def start(device: Device, network: Network, watch: Path | None, ca_cert: Path,
          logs: Path, identifiers: LabIdentifiers | None = None) -> list[subprocess.Popen]:
    """Start them all inside the device's network; logs in `logs/<device>-<name>.log`."""
    todo = commands(device, logs)
    if todo and watch is None and device.telemetry_agent is not None:
        raise SetupError(f"device {device.name}: the reference agent needs `appium: local` "
                         "(it watches the local browser's DevTools port)")
    # Firmware processes run on this machine: they enter by loopback, as its browser does.
    proxy_url = network.proxy.local_url if device.boundary == "proxy" and network.proxy else None
    env = environment(device, watch, ca_cert, proxy_url, identifiers.path if identifiers else None)
    started: list[subprocess.Popen] = []
    try:
        for name, argv in todo:
            proc = procs.spawn([*network.exec_prefix(), *argv], logs / f"{device.name}-{name}.log", env=env)
            started.append(proc)
    except OSError as e:
        for proc in started:
            procs.stop(proc)
        raise SetupError(f"device {device.name}: firmware process could not start: {e}") from e
    return started
