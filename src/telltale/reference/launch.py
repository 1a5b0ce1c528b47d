"""Starting the reference agent beside a local Appium server (it watches that server's temp folder)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from telltale import procs
from telltale.errors import SetupError
from telltale.inventory import Device


def start_agent(device: Device, watch: Path | None, proxy_url: str, ca_cert: Path,
                workdir: Path) -> subprocess.Popen:
    agent = device.telemetry_agent
    if agent is None:
        raise SetupError(f"device {device.name} has no telemetry_agent")
    if watch is None:
        raise SetupError(f"device {device.name}: the reference agent needs `appium: local` "
                         "(it watches the local browser's DevTools port)")
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / f"{device.name}-agent.json"
    cfg.write_text(json.dumps({
        "watch": str(watch), "proxy": proxy_url, "ca_cert": str(ca_cert),
        "pages_url": str(agent.pages_url), "usage_url": str(agent.usage_url),
        "encoding": agent.encoding, "id_hash": agent.id_hash,
        "identifiers": dict(device.identifiers), "interval": agent.interval,
    }, indent=1))
    return procs.spawn([sys.executable, "-m", "telltale.reference.agent", "--config", str(cfg)],
                       workdir / f"{device.name}-agent.log")
