"""The lab's firmware processes: started with the device, inside its network, stopped after it.

A lab runs its own firmware components (a telemetry service, an updater, the leaky
reference agent) next to the browser, in the device's namespace, so they have no way out
but the capture, like the browser. Each gets the same environment:

- TELLTALE_DEVICE: the device name
- TELLTALE_DEVTOOLS_WATCH: the folder in which each browser's profile folder (with its
  DevToolsActivePort file) appears
- TELLTALE_CA_CERT: the capture CA (PEM), as a lab build trusts it system-wide
- TELLTALE_IDENTIFIERS: the device's identifiers, as JSON
- TELLTALE_PROXY: only for a device whose boundary is its proxy setting
"""

from __future__ import annotations

import json
import os
import subprocess
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
            "TELLTALE_PROXY")


def contract(device: Device, watch: Path | None, ca_cert: Path, proxy_url: str | None) -> dict[str, str]:
    """The TELLTALE_* variables a firmware process of `device` reads (no proxy, no TELLTALE_PROXY)."""
    env = {"TELLTALE_DEVICE": device.name, "TELLTALE_CA_CERT": str(ca_cert),
           "TELLTALE_IDENTIFIERS": json.dumps(dict(device.identifiers), sort_keys=True)}
    if watch is not None:
        env["TELLTALE_DEVTOOLS_WATCH"] = str(watch)
    if proxy_url:
        env["TELLTALE_PROXY"] = proxy_url
    return env


def environment(device: Device, watch: Path | None, ca_cert: Path, proxy_url: str | None) -> dict[str, str]:
    """This process's environment with the device's contract in place of any inherited one (tox
    passes TELLTALE_* through: a stale value must not reach the device)."""
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT}
    return env | contract(device, watch, ca_cert, proxy_url)


def commands(device: Device, logs: Path) -> list[tuple[str, list[str]]]:
    """(name, argv) of every firmware process of the device, the reference agent included."""
    out = [(p.name, list(p.command)) for p in device.firmware_processes]
    if device.telemetry_agent is not None:
        from telltale.reference.launch import agent_command

        out.append(("reference-agent", agent_command(device, logs)))
    return out


def start(device: Device, network: Network, watch: Path | None, ca_cert: Path,
          logs: Path) -> list[subprocess.Popen]:
    """Start them all inside the device's network; logs in `logs/<device>-<name>.log`."""
    todo = commands(device, logs)
    if todo and watch is None and device.telemetry_agent is not None:
        raise SetupError(f"device {device.name}: the reference agent needs `appium: local` "
                         "(it watches the local browser's DevTools port)")
    # Firmware processes run on this machine: they enter by loopback, as its browser does.
    proxy_url = network.proxy.local_url if device.boundary == "proxy" and network.proxy else None
    env = environment(device, watch, ca_cert, proxy_url)
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
