"""A farm on one machine, for `tox -e grid`, the end-to-end test and the benchmark: a Grid hub
from the npm jar and `telltale host` processes, each with embedded devices, as a lab would run
them on separate hosts.

The tokens and the Grid secret are made here and reach the hosts and the run through their
environment only; the devices file names the variables, never the values.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from telltale import procs, recovery
from telltale.errors import SetupError
from telltale.farm import grid, token
from telltale.paths import Layout

GROUP = "grid"


@dataclass(frozen=True)
class HostPlan:
    name: str
    devices: tuple[str, ...]
    port: int


def devices_yaml(hub: grid.Hub, hosts: list[HostPlan], settle: float = 0.1) -> str:
    lines = [f'grid: {{url: "{hub.url}", publish: {hub.publish}, subscribe: {hub.subscribe}}}', "hosts:"]
    lines += [f'  {h.name}: {{url: "http://127.0.0.1:{h.port}", token_env: TELLTALE_HOST_TOKEN_{i}}}'
              for i, h in enumerate(hosts)]
    lines.append("devices:")
    for h in hosts:
        for d in h.devices:
            serial = ("GRID" + d.upper().replace("-", ""))[:16]
            lines.append(f"  {d}: {{platform: chromium, host: {h.name}, firmware: debian-chromium, "
                         f"groups: [{GROUP}, {h.name}], settle: {settle}, "
                         f"identifiers: {{serial: {serial}}}}}")
    return "\n".join(lines) + "\n"


class LocalFarm:
    """Start with `start()`, stop with `stop()`; `env` is what a run needs (tokens)."""

    def __init__(self, lay: Layout, work: Path, hosts: int = 2, per_host: int = 2, say=print) -> None:
        self.lay, self.work, self.say = lay, work, say
        self.hub = grid.Hub(grid.server_jar(lay.root / "node_modules"), work / "hub", grid.new_secret(),
                            request_timeout=30)
        letters = [chr(97 + i) for i in range(hosts)]
        self.plans = [HostPlan(f"host-{c}", tuple(f"grid-{c}{n + 1}" for n in range(per_host)),
                               procs.free_port()) for c in letters]
        self.tokens = {h.name: secrets.token_urlsafe(32) for h in self.plans}
        self.devices_file = work / "devices.yaml"
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "TELLTALE_GRID_SECRET": self.hub.secret}
        env.update({f"TELLTALE_HOST_TOKEN_{i}": self.tokens[h.name] for i, h in enumerate(self.plans)})
        return env

    def folder(self, host: str) -> Path:
        return self.work / "hosts" / host

    def start(self, within: float = 240.0) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.say(f"starting the Grid hub ({self.hub.jar.name})")
        self.hub.start()
        self.devices_file.write_text(devices_yaml(self.hub, self.plans))
        for h in self.plans:
            self.say(f"starting telltale host {h.name} with {', '.join(h.devices)}")
            log = self.work / f"{h.name}.log"
            env = {**self.env, recovery.PROCESS_LEDGER_ENV: str(self.ledger(h.name))}
            with open(log, "ab") as out:
                self.procs[h.name] = subprocess.Popen(
                    [sys.executable, "-m", "telltale.cli", "host", h.name,
                     "--devices-file", str(self.devices_file), "--folder", str(self.folder(h.name))],
                    cwd=self.lay.root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.monotonic()
        waiting = {h.name for h in self.plans}
        while waiting:
            for name in sorted(waiting):
                if self.ready(name):
                    waiting.discard(name)
                    self.say(f"{name} ready ({time.monotonic() - t0:.0f} s)")
                elif self.procs[name].poll() is not None:
                    self.stop()
                    raise SetupError(f"telltale host {name} exited ({self.procs[name].returncode}); log "
                                     f"{self.work / f'{name}.log'}:\n{procs.tail(self.work / f'{name}.log')}")
            if time.monotonic() - t0 > within:
                self.stop()
                raise SetupError(f"hosts {', '.join(sorted(waiting))} not ready within {within:.0f} s")
            if waiting:
                time.sleep(1)

    def ledger(self, host: str) -> Path:
        return self.work / f"{host}-processes.jsonl"

    def ready(self, host: str) -> bool:
        plan = next(h for h in self.plans if h.name == host)
        req = urllib.request.Request(f"http://127.0.0.1:{plan.port}/status",
                                     headers={"Authorization": token.bearer(self.tokens[host])})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return len(json.loads(r.read())["devices"]) == len(plan.devices)
        except (OSError, ValueError, KeyError):
            return False

    def kill(self, host: str) -> list[str]:
        """The host dies at once, as a machine that loses power: its process and every process it
        started get SIGKILL (its files stay as they were written)."""
        p = self.procs[host]
        p.kill()
        p.wait(10)
        return recovery.stop_recorded(self.ledger(host), grace=0)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for name, p in self.procs.items():
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
            recovery.stop_recorded(self.ledger(name))
        self.hub.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m telltale.farm.local [RUN ARGS...]`: the local farm, one `telltale run` across it
    (every device of group grid, one xdist worker per device), then everything stopped."""
    from telltale import paths

    args = list(sys.argv[1:] if argv is None else argv)
    lay = paths.layout()
    work = lay.state / "grid-local" / time.strftime("%Y%m%d-%H%M%S")
    farm = LocalFarm(lay, work, say=lambda m: print(f"telltale grid: {m}", flush=True))
    farm.start()
    try:
        cmd = [sys.executable, "-m", "telltale.cli", "run", "--devices-file", str(farm.devices_file),
               "--devices", GROUP, "-n", str(sum(len(h.devices) for h in farm.plans)), *args]
        return subprocess.run(cmd, cwd=lay.root, env=farm.env).returncode
    finally:
        farm.stop()
        print(f"telltale grid: stopped; the hosts' own copies of every capture are in {work / 'hosts'}",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
