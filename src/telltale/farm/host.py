"""What `telltale host` owns on a lab host, for each device attached there: its capture station
(sealed boundary, proxy or WireGuard, as devices.yaml says), its Appium server and the Grid relay
node that puts it behind the hub; and the window operations the run asks for over the host's
channel (farm/hostapi.py).

Everything a device's capture writes stays in the host's folder: a run that goes away, or a
run that never fetched, loses nothing; the host never deletes a capture.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

from telltale.appium_server import AppiumServer
from telltale.capture import store
from telltale.capture.station import Station, account_settled, require_boundary
from telltale.errors import CaptureBroken, TelltaleError
from telltale.farm import files, grid
from telltale.inventory import Device, Inventory
from telltale.paths import Layout
from telltale.platforms import PLATFORMS

class Conflict(TelltaleError):
    """The host already serves another run (a host serves one run: its captures are that run's)."""


def encode_flows(flows: list) -> str:
    """Flows as the capture files hold them (mitmproxy's format), base64 for JSON."""
    from mitmproxy import io as mio

    buf = io.BytesIO()
    w = mio.FlowWriter(buf)
    for f in flows:
        w.add(f)
    return base64.b64encode(buf.getvalue()).decode()


def decode_flows(text: str) -> list:
    from mitmproxy import io as mio

    return list(mio.FlowReader(io.BytesIO(base64.b64decode(text))).stream())


@dataclass
class HostedDevice:
    """One device on this host: its station, Appium server and relay node, and a lock that keeps
    its window operations in order."""

    device: Device
    station: Station
    appium: AppiumServer | None = None
    node: grid.RelayNode | None = None
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict:
        proxy = self.station.proxy
        net = self.station.network
        w = self.station.witness
        return {"device": self.device.name, "boundary": self.device.boundary,
                "boundary_text": self.device.boundary_text,
                "capture": proxy.capture.name if proxy and proxy.capture else None,
                "capture_alive": bool(proxy and proxy.alive()),
                "local_url": proxy.local_url if proxy else None,
                "appium": self.appium.url if self.appium else None,
                "node": self.node.url if self.node else None, "finished": self.finished,
                "sealed": None if net is None or w is None else {
                    "device_ip": w.device_ip, "capture_ip": w.capture_ip, "names": w.names,
                    "pcap": w.pcap.name}}

    def open_window(self, window: str) -> dict:
        with self.lock:
            proxy = self._proxy()
            proxy.open_window(window)
            return {"window": window, "capture": proxy.capture.name}

    def close_window(self) -> dict:
        """Close the open window; the span, and for a sealed device the packet record's account
        of it (what only the record saw, as flows)."""
        with self.lock:
            proxy = self._proxy()
            span = proxy.close_window()
            out = {"window": span.window, "capture": span.capture.name, "start": span.start, "end": span.end,
                   "in_flight": span.in_flight, "tls_failures": list(span.tls_failures),
                   "opened": span.opened, "closed": span.closed, "tls_clients": list(span.tls_clients)}
            w = self.station.witness
            if w is not None:
                flows = [r.flow for r in store.read_records(span.capture, span.start, span.end)
                         if r.flow is not None and store.window_of(r.flow) == span.window]
                escaped, problems, summary = account_settled(w, span, flows)
                out["account"] = {"flows": encode_flows(escaped), "problems": problems, "summary": summary}
            return out

    def ensure_running(self) -> bool:
        with self.lock:
            return self._proxy().ensure_running()

    def finish(self) -> None:
        """Stop capturing (the run is done with the device): the files are final."""
        with self.lock:
            if not self.finished:
                self.finished = True
                if self.station.proxy is not None:
                    self.station.proxy.stop()
                if self.station.witness is not None:
                    self.station.witness.recorder.stop()

    def _proxy(self):
        if self.finished:
            raise CaptureBroken(f"the capture of {self.device.name} was finished by its run")
        if self.station.proxy is None:
            raise CaptureBroken(f"the capture of {self.device.name} is not running")
        return self.station.proxy

    def stop(self) -> None:
        for part in (self.node, self.appium):
            if part is not None:
                part.stop()
        self.station.stop()


class Host:
    """A lab host's devices, started and proven before it serves, stopped by PID at the end."""

    def __init__(self, name: str, inv: Inventory, lay: Layout, folder: Path, grid_secret: str,
                 say=print, source: str = "devices.yaml") -> None:
        self.settings = inv.host(name, source)
        self.name, self.inv, self.lay, self.folder = name, inv, lay, folder
        self.grid_secret, self.say = grid_secret, say
        self.devices: dict[str, HostedDevice] = {}
        self.run: str | None = None
        self._claim = threading.Lock()

    @property
    def captures(self) -> Path:
        return self.folder / "captures"

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    def start(self) -> None:
        mine = [d for d in self.inv.devices.values() if d.host == self.name]
        if not mine:
            raise TelltaleError(f"host {self.name}: no device of devices.yaml says host: {self.name}")
        assert self.inv.grid is not None  # the schema requires it for a device with host:
        g = self.inv.grid
        hub = grid.HubAddress.of(str(g.url), g.publish, g.subscribe)
        jar = grid.server_jar(self.lay.root / "node_modules")
        bind = self.settings.address[0]
        try:
            for d in mine:
                require_boundary(d)
                self.say(f"{d.name}: starting its capture ({d.boundary})")
                hd = self.devices[d.name] = HostedDevice(d, Station(d, self.captures, self.lay.mitmproxy_conf,
                                                                    self.logs))
                hd.station.start()
                self.say(f"{d.name}: starting its Appium server")
                platform = PLATFORMS[d.platform]
                hd.appium = AppiumServer(self.lay, d.name, self.logs, drivers=platform.appium_driver,
                                         address=hd.station.device_address,
                                         prefix=hd.station.exec_prefix(), port=hd.station.control_port)
                hd.appium.start()
                self.say(f"{d.name}: registering its relay node with the hub {hub.url}")
                stereotype = {**dict(platform.stereotype), **_match_caps(d)}
                hd.node = grid.RelayNode(jar, self.logs, grid.Slot(d.name, stereotype), hd.appium.url, hub,
                                         self.grid_secret, host=bind)
                hd.node.start(ready_within=90)
                self.say(f"{d.name}: ready")
        except BaseException:
            self.stop()
            raise

    def claim(self, run: str) -> None:
        """Bind the host to one run; another run is refused while it serves this one."""
        with self._claim:
            if self.run is None:
                self.run = run
            elif self.run != run:
                raise Conflict(f"host {self.name} serves run {self.run}, not {run}")

    def device(self, name: str) -> HostedDevice:
        try:
            return self.devices[name]
        except KeyError:
            raise KeyError(f"host {self.name} has no device {name!r}") from None

    def file_list(self, device: str) -> list[dict]:
        self.device(device)
        return [e.to_dict() for e in files.device_files(self.captures, device)]

    def file_path(self, device: str, name: str) -> Path:
        self.device(device)
        p = self.captures / name
        if "/" in name or name.startswith(".") or not name.startswith(f"{device}-") or not p.is_file():
            raise KeyError(f"host {self.name} has no file {name!r} of {device}")
        return p

    def status(self) -> dict:
        return {"host": self.name, "run": self.run, "folder": str(self.folder),
                "devices": {n: hd.describe() for n, hd in self.devices.items()}}

    def stop(self) -> None:
        for hd in self.devices.values():
            hd.stop()


def _match_caps(device: Device) -> dict:
    """The device's own W3C capabilities that the hub matches on (platformName, browserName)."""
    return {k: v for k, v in device.capabilities.items() if k in ("platformName", "browserName")}
