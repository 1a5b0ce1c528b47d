"""The run's side of a device on a lab host: the host's channel, and a capture that opens and
closes windows there while the window's flows are read from a mirror in the run folder.

The mirror of each capture file holds the same bytes at the same offsets as the host's file
(it is extended up to each closed window's end), so the window and sweep code reads it as it
reads a local capture. At the end of the device's run every file of the device is fetched in
full and checked against the SHA-256 the host gives; `<device>-host.json` records what was
fetched, from where, with its hash, and what could not be.
"""

from __future__ import annotations

import functools
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import urllib3
from selenium.common.exceptions import WebDriverException

from telltale.capture.proxy import WindowSpan
from telltale.capture.station import Witness
from telltale.errors import ActionFailed, CaptureBroken, NoVerdict, SetupError, TelltaleError
from telltale.farm import files, token
from telltale.farm.hostapi import RUN_HEADER
from telltale.inventory import Device, HostSettings
from telltale.manifest import sha256_file


class HostUnreachable(CaptureBroken):
    """The lab host does not answer: its devices' scenarios are broken with this reason."""


FETCH_CHUNK = 16 << 20  # bytes of a capture file a request

# What a driver's call raises when its session, the hub or the host behind it fails.
DRIVER_FAILURES = (TelltaleError, WebDriverException, OSError, urllib3.exceptions.HTTPError)


class HostClient:
    """Requests to one lab host, with its token and the run's id."""

    def __init__(self, name: str, url: str, secret: str, run: str, timeout: float = 30.0,
                 cert: Path | None = None) -> None:
        self.name, self.url, self.run = name, url.rstrip("/"), run
        self._token, self.timeout = secret, timeout
        # https: the host's own certificate is the only one trusted for it (no system CA list)
        self._tls = ssl.create_default_context(cafile=str(cert)) if cert is not None else None

    @classmethod
    def of(cls, name: str, settings: HostSettings, run: str, base: Path) -> HostClient:
        """The client of a host of devices.yaml (`base`: its folder, for a relative tls_cert)."""
        secret = token.from_env(settings.token_env, f"host {name}")
        return cls(name, str(settings.url), secret, run, cert=settings.certificate(base))

    def __repr__(self) -> str:
        return f"HostClient({self.name})"

    def _request(self, method: str, path: str, timeout: float | None = None) -> bytes:
        headers = {"Authorization": token.bearer(self._token), RUN_HEADER: self.run}
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     data=b"" if method == "POST" else None, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=self._tls) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            try:
                why = json.loads(e.read()).get("error", "")
            except (ValueError, OSError):
                why = ""
            if e.code == 503:
                raise CaptureBroken(f"host {self.name}: {why}") from e
            raise NoVerdict(f"host {self.name} ({self.url}) refused {method} {path}: {e.code} {why}") from e
        except (OSError, ValueError) as e:
            raise HostUnreachable(f"host {self.name} ({self.url}) cannot be reached: {e}") from e

    def json(self, method: str, path: str, timeout: float | None = None) -> dict:
        return json.loads(self._request(method, path, timeout))

    def claim(self) -> dict:
        self.json("POST", f"/runs/{self.run}")
        return self.json("GET", "/status")

    def files(self, device: str) -> list[files.FileEntry]:
        return [files.FileEntry.from_dict(d) for d in self.json("GET", f"/devices/{device}/files")["files"]]

    def read(self, device: str, name: str, start: int, end: int) -> bytes:
        return self._request("GET", f"/devices/{device}/files/{name}?start={start}&end={end}", timeout=300)

    def append(self, device: str, name: str, local: Path, end: int, chunk: int = FETCH_CHUNK) -> int:
        """Extend `local` with the host's bytes of its file `name`, from the size `local` has up to
        `end`, a chunk a request (a large capture is never whole in memory on either side);
        returns the size reached (short of `end` when the host has fewer bytes)."""
        have = local.stat().st_size if local.exists() else 0
        if have >= end:
            return have
        with open(local, "ab") as f:
            while have < end:
                data = self.read(device, name, have, min(end, have + chunk))
                if not data:
                    break
                f.write(data)
                have += len(data)
        return have


@dataclass
class RemoteWitness:
    """A sealed device's packet record, read on its host: each window's account comes with the
    window's close."""

    last: tuple[list, list[str], dict] | None = None

    def account(self, span: WindowSpan, flows: list) -> tuple[list, list[str], dict]:
        if self.last is None:
            return [], ["the host gave no account of the packet record for this window"], {}
        out, self.last = self.last, None
        return out


class RemoteCapture:
    """A device's capture on its lab host, as the window and observation code use a CaptureProxy."""

    def __init__(self, client: HostClient, device: Device, captures: Path, described: dict) -> None:
        self.client, self.device, self.name = client, device, device.name
        self.folder = captures
        self.described = described
        self.witness = RemoteWitness() if described.get("sealed") else None
        self.capture: Path | None = captures / described["capture"] if described.get("capture") else None
        self._mirrors: list[Path] = [self.capture] if self.capture else []
        self.inflight_grace = 5.0

    @property
    def captures(self) -> list[Path]:
        return list(self._mirrors)

    @property
    def local_url(self) -> str:
        """Where a browser on the device's host points its proxy setting (a loopback address there)."""
        return self.described.get("local_url") or ""

    url = local_url

    def alive(self) -> bool:
        try:
            return bool(self.client.json("GET", "/status")["devices"][self.name]["capture_alive"])
        except (NoVerdict, KeyError):
            return False

    def ensure_running(self) -> bool:
        restarted = bool(self.client.json("POST", f"/devices/{self.name}/ensure")["restarted"])
        if restarted:
            self.described = self.client.json("GET", "/status")["devices"][self.name]
            self._use(self.described["capture"])
        return restarted

    def open_window(self, window: str) -> None:
        reply = self.client.json("POST", f"/devices/{self.name}/windows/open?id={window}")
        self._use(reply["capture"])

    def close_window(self) -> WindowSpan:
        from telltale.farm.host import decode_flows

        reply = self.client.json("POST", f"/devices/{self.name}/windows/close",
                                 timeout=self.inflight_grace + 30)
        local = self._use(reply["capture"])
        self.sync(local, int(reply["end"]))
        if self.witness is not None:
            acc = reply.get("account") or {}
            self.witness.last = (decode_flows(acc.get("flows", "")), list(acc.get("problems", [])),
                                 dict(acc.get("summary", {})))
        return WindowSpan(reply["window"], local, int(reply["start"]), int(reply["end"]),
                          int(reply["in_flight"]), tuple(reply.get("tls_failures") or ()),
                          reply.get("opened"), reply.get("closed"), tuple(reply.get("tls_clients") or ()))

    def _use(self, name: str) -> Path:
        local = self.folder / name
        if local not in self._mirrors:
            self._mirrors.append(local)
        self.capture = local
        return local

    def sync(self, local: Path, end: int) -> None:
        """Extend the mirror of one capture file up to byte `end` of the host's file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        have = local.stat().st_size if local.exists() else 0
        reached = self.client.append(self.name, local.name, local, end)
        if reached < end:
            raise CaptureBroken(f"host {self.client.name} gave {reached - have} of {end - have} bytes of "
                                f"{local.name}")

    def stop(self) -> None:
        """The run does not stop a host's capture (collect() finishes it)."""


class HostGuardedDriver:
    """A device's driver whose sessions go through the hub, with its host named in what fails.

    Before a session is asked for, the device's host must answer, so a dead host's scenarios are
    broken at once with the host named (not after the hub's queue gives up). When any call of
    the driver fails (the hub cannot reach the relay node of a host that died mid-scenario), the
    host is asked whether it still answers: if not, the failure is the host's (HostUnreachable,
    with the driver's own error after it); if it does, the driver's error stands, naming the host."""

    def __init__(self, driver, client: HostClient) -> None:
        self.driver, self.client = driver, client

    def __repr__(self) -> str:
        return repr(self.driver)

    def ensure(self, incognito: bool) -> None:
        self.client.json("GET", "/status", timeout=10)
        self._guarded(self.driver.ensure)(incognito)

    def _guarded(self, call: Callable) -> Callable:
        @functools.wraps(call)
        def guarded(*args, **kwargs):
            try:
                return call(*args, **kwargs)
            except DRIVER_FAILURES as e:
                blamed = self._blame(e)
                if blamed is e:
                    raise
                raise blamed from e
        return guarded

    def _blame(self, e: BaseException) -> BaseException:
        """The host's failure when it no longer answers, else the driver's own error with the host."""
        try:
            self.client.json("GET", "/status", timeout=10)
        except NoVerdict as host:  # gone (HostUnreachable), or it says its capture is broken
            return type(host)(f"{host}; the device's driver failed: {_first_line(e)}")
        if isinstance(e, (SetupError, ActionFailed)):  # its kind stays, the host named
            return type(e)(f"{e} (a device of host {self.client.name}, through the Grid hub)")
        if isinstance(e, TelltaleError):
            return e
        return ActionFailed(f"the driver of a device of host {self.client.name} (through the Grid "
                            f"hub) failed: {_first_line(e)}")

    def __getattr__(self, name: str):
        attr = getattr(self.driver, name)
        if name.startswith("_") or not callable(attr) or isinstance(attr, type):
            return attr
        return self._guarded(attr)


def _first_line(e: BaseException) -> str:
    lines = (getattr(e, "msg", None) or str(e)).strip().splitlines()
    return lines[0] if lines else type(e).__name__


class RemoteStation:
    """The capture_station of a device on a lab host: claimed for the run, windows through the
    host, and at the end every file fetched into the run folder with its hash."""

    def __init__(self, device: Device, client: HostClient, captures: Path) -> None:
        self.device, self.client, self.captures = device, client, captures
        self.proxy: RemoteCapture | None = None
        self.witness: Witness | None = None  # the fetched packet record, after collect()
        self.collected: dict | None = None

    @property
    def boundary(self) -> str:
        return self.device.boundary

    def start(self) -> RemoteCapture:
        status = self.client.claim()
        described = status["devices"].get(self.device.name)
        if described is None:
            raise CaptureBroken(f"host {self.client.name} does not serve {self.device.name}")
        if not described.get("capture_alive"):
            raise CaptureBroken(f"the capture of {self.device.name} on host {self.client.name} "
                                "is not running")
        self.proxy = RemoteCapture(self.client, self.device, self.captures, described)
        return self.proxy

    def collect(self) -> dict:
        """Finish the device's capture on its host and fetch every file; what was fetched, with
        hashes, goes to `<device>-host.json`. A host that cannot be reached is recorded there:
        what was mirrored before stays, and the host keeps the rest."""
        if self.collected is not None:
            return self.collected
        rec: dict = {"device": self.device.name, "host": self.client.name, "url": self.client.url,
                     "run": self.client.run, "files": [], "problems": []}
        try:
            self.client.json("POST", f"/devices/{self.device.name}/finish")
            for e in self.client.files(self.device.name):
                rec["files"].append(self._fetch(e, rec["problems"]))
        except NoVerdict as e:
            rec["problems"].append(f"{e}: what was mirrored before is in the run folder; the rest stays on "
                                   "the host")
        self.captures.mkdir(parents=True, exist_ok=True)
        (self.captures / f"{self.device.name}-host.json").write_text(json.dumps(rec, indent=1))
        sealed = (self.proxy.described.get("sealed") if self.proxy else None) or None
        if sealed and (self.captures / sealed["pcap"]).exists():
            self.witness = Witness(self.captures / sealed["pcap"], sealed["device_ip"], None,
                                   names=dict(sealed.get("names") or {}), capture_ip=sealed["capture_ip"])
        if self.proxy is not None:
            for e in rec["files"]:
                if e["name"].endswith(".mitm"):
                    self.proxy._use(e["name"])
        self.collected = rec
        return rec

    def _fetch(self, e: files.FileEntry, problems: list[str]) -> dict:
        """The rest of one file after what the mirror holds; a mirror that does not make the host's
        bytes is kept aside (never overwritten) and the file fetched whole."""
        local = self.captures / e.name
        for attempt in (0, 1):
            self.client.append(self.device.name, e.name, local, e.size)
            got = sha256_file(local)
            if got == e.sha256 or attempt:
                break
            aside = local.with_name(local.name + ".mirror")
            problems.append(f"{e.name}: the mirror differs from the host's file; kept as {aside.name}, "
                            "fetched anew")
            local.rename(aside)
        if got != e.sha256:
            problems.append(f"{e.name}: fetched bytes do not match the host's SHA-256")
        return {**e.to_dict(), "fetched_sha256": got, "intact": got == e.sha256}

    def stop(self) -> None:
        self.collect()
