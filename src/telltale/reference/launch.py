"""Starting the reference agent, as a firmware process of a device (firmware.py starts it).

The config file holds the telemetry settings (devices.yaml's `telemetry_agent`
and the host map); what every firmware process of a device gets (its name, the
DevTools folder, the CA, identifiers, proxy) comes from the TELLTALE_* environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from telltale.errors import SetupError
from telltale.inventory import Device


def agent_settings(device: Device) -> dict:
    """The AgentConfig fields a device's telemetry_agent sets; the rest comes from the environment."""
    agent = device.telemetry_agent
    if agent is None:
        raise SetupError(f"device {device.name} has no telemetry_agent")
    return {
        "pages_url": str(agent.pages_url), "usage_url": str(agent.usage_url),
        "encoding": agent.encoding, "id_hash": agent.id_hash, "interval": agent.interval,
        "transport": agent.transport, "batch": agent.batch, "heartbeat": agent.heartbeat,
        "addresses": {host: str(ip) for host, ip in device.proxy.hosts.items()},
    }


def agent_command(device: Device, workdir: Path) -> list[str]:
    """The agent's argv, its config written to `workdir`: start it with the device's TELLTALE_* env."""
    settings = agent_settings(device)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / f"{device.name}-agent.json"
    cfg.write_text(json.dumps(settings, indent=1))
    return [sys.executable, "-m", "telltale.reference.agent", "--config", str(cfg)]


def agent_env(device: Device, watch: Path, proxy_url: str | None, ca_cert: Path) -> dict[str, str]:
    """The TELLTALE_* variables the agent reads as a firmware process of `device` (firmware.py)."""
    from telltale.firmware import contract

    return contract(device, watch, ca_cert, proxy_url)
