"""`telltale host NAME`: serve a lab host's devices to the farm's runs.

Run on each lab host; it owns the devices of devices.yaml that say
`host: NAME` (their captures, Appium servers and Grid relay nodes) and serves their window
control and captures to the run until it is stopped (SIGINT or SIGTERM).

Its captures go to a new folder per start (`.telltale/hosts/NAME/<time>/captures`) and are
never deleted: a run that went away can still fetch them, or a person can copy them.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path

from telltale import inventory, paths, recovery
from telltale.errors import TelltaleError
from telltale.farm import token
from telltale.farm.host import Host
from telltale.farm.hostapi import HostServer


def _say(msg: str) -> None:
    print(f"telltale host: {msg}", flush=True)


def _host(args: argparse.Namespace) -> int:
    lay = paths.layout()
    inv_file = args.devices_file or str(lay.devices)
    inv = inventory.load(inv_file)
    settings = inv.host(args.name, inv_file)
    if inv.grid is None:
        raise TelltaleError(f"{inv_file}: hosts need `grid:` (the hub's URL)")
    secret = token.from_env(settings.token_env, f"host {args.name}")
    grid_secret = token.from_env(inv.grid.secret_env, "the Grid's registration secret")
    folder = Path(args.folder) if args.folder else (
        lay.state / "hosts" / args.name / time.strftime("%Y%m%d-%H%M%S"))
    folder.mkdir(parents=True, exist_ok=True)
    # Every process the host starts is written down, so a killed host's leftovers can be stopped.
    os.environ.setdefault(recovery.PROCESS_LEDGER_ENV, str(folder / "processes.jsonl"))
    if any(d.host == args.name and d.boundary == "sealed" for d in inv.devices.values()):
        from telltale.capture import boundary

        boundary.clean_stale(_say)
    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.set())
    host = Host(args.name, inv, lay, folder, grid_secret, say=_say, source=inv_file)
    _say(f"starting {', '.join(d.name for d in inv.devices.values() if d.host == args.name)} "
         f"(captures in {folder / 'captures'})")
    server = None
    try:
        host.start()
        log = open(folder / "host.log", "a", buffering=1)  # noqa: SIM115 - open for the host's life
        server = HostServer(host, settings.address, secret, tls=_tls(settings, args, Path(inv_file).parent),
                            log=lambda m: log.write(f"{time.time():.3f} {m}\n"))
        server.serve()
        _say(f"ready: serving {len(host.devices)} device(s) on {settings.url} (token required)")
        stop.wait()
        _say("stopping; every capture stays in " + str(folder / "captures"))
    finally:
        if server is not None:
            server.close()
        host.stop()
    return 0


def _tls(settings, args: argparse.Namespace, base: Path) -> tuple[str, str] | None:
    """(certificate, key) for an https host; the key file is named here, on the host only."""
    if settings.tls_cert is None:
        return None
    if not args.tls_key:
        raise TelltaleError(f"host {args.name} has an https url: give its private key with --tls-key FILE")
    return str(settings.certificate(base)), args.tls_key


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("host", help="serve a lab host's devices (capture, Appium, Grid relay) to runs",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("name", help="the host's name under hosts: in devices.yaml")
    p.add_argument("--devices-file", default=None, help="inventory file (default devices.yaml)")
    p.add_argument("--folder", default=None, help="where its captures and logs go "
                   "(default .telltale/hosts/NAME/<time>)")
    p.add_argument("--tls-key", default=None, help="the private key (PEM file) of the host's certificate "
                   "(hosts.NAME.tls_cert) when its url is https")
    p.set_defaults(func=_host)

