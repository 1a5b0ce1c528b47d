"""devices.yaml: the device farm, validated, with errors that name file, line and field.

PyYAML's composer keeps the position of every node; the validation error's
location (a path of keys) is mapped back onto it, so a typo in a farm of fifty
phones is reported as ``devices.yaml:17: devices.pixel-8.platform: ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    IPvAnyAddress,
    field_validator,
    model_validator,
)

from telltale import names, yamlconfig
from telltale.errors import ConfigError
from telltale.net import is_loopback
from telltale.platforms import PLATFORMS

DEFAULT_DEVICE = "local-chromium"


class ProxySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address the capture proxy listens on.")
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port.")
    upstream: Literal["offline", "live"] = "offline"
    hosts: dict[str, IPvAnyAddress] = Field(
        default_factory=dict,
        description="offline only: host (or *.suffix) -> the server address it stands for")
    auth_env: str | None = Field(
        None, description="environment variable holding user:password for proxy authentication; "
        "required when host is not a loopback address")

    @model_validator(mode="after")
    def _auth_beyond_loopback(self) -> ProxySettings:
        if not is_loopback(self.host) and not self.auth_env:
            raise ValueError(f"host {self.host} is not loopback: set auth_env (proxy authentication)")
        return self


class TelemetryAgent(BaseModel):
    """The leaky reference build's agent (telltale.reference.agent): never on a real device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoding: Literal["base64", "gzip+base64", "json", "xor"] = "base64"
    id_hash: Literal["none", "sha256", "md5"] = "none"
    transport: Literal["proxy", "direct", "udp", "dns"] = Field(
        "proxy", description="proxy: the device's proxy setting (none in a sealed namespace: direct); "
        "direct: its own TLS connection to the server's address with the right SNI; udp: a datagram "
        "to port 443; dns: the visited site and search carried in query names")
    interval: float = Field(1.0, gt=0, le=60, description="seconds between app-usage batches")
    batch: float | None = Field(
        None, gt=0, le=3600, description="hold page and usage events and send them together every so "
        "many seconds (and when the browser closes, as an SDK flushes on backgrounding); none: at once")
    heartbeat: float | None = Field(
        None, gt=0, le=3600, description="seconds between idle heartbeats carrying a device identifier")
    pages_url: HttpUrl = HttpUrl("https://tracking.intl.miui.com/track/v4/pages")
    usage_url: HttpUrl = HttpUrl("https://sa.api.intl.miui.com/sa?project=browser")


class WireGuardSettings(BaseModel):
    """Where a `capture: wireguard` device's tunnel ends: the capture's WireGuard listener."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field("0.0.0.0", description="address the capture's WireGuard listener binds "
                        "(only the phone's key is accepted there)")
    port: int = Field(51820, ge=1, le=65535, description="UDP port of that listener")
    endpoint: str | None = Field(None, description="HOST[:PORT] the phone dials (default: this "
                                 "machine's address and the port)")


class FirmwareProcess(BaseModel):
    """A lab's own firmware component, started with the device inside its network."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    command: tuple[str, ...] = Field(min_length=1, description="argv; no shell")

    @field_validator("name")
    @classmethod
    def _usable_name(cls, v: str) -> str:
        why = names.problem(v)
        if why:
            raise ValueError(why)
        return v


class GridSettings(BaseModel):
    """The farm's Selenium Grid 4 hub (`grid: URL`, or this mapping): the run asks it for every
    device's session; each lab host's relay nodes register on its event bus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    publish: int = Field(4442, ge=1, le=65535, description="the hub's event bus: publish port")
    subscribe: int = Field(4443, ge=1, le=65535, description="the hub's event bus: subscribe port")
    secret_env: str = Field("TELLTALE_GRID_SECRET", description="environment variable holding the "
                            "registration secret the hub and its nodes share")


class HostSettings(BaseModel):
    """A lab host running `telltale host`: it owns its devices' Appium servers and captures and
    serves the window control and the captures to the run, to holders of the token only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl = Field(description="where the host's service listens (http://ADDRESS:PORT)")
    token_env: str = Field("TELLTALE_HOST_TOKEN", description="environment variable holding the token "
                           "both sides know (never a command-line argument, never in git)")
    tls_cert: Path | None = Field(None, description="https only: the host's certificate (PEM), which the "
                                  "run trusts for this host alone; its key stays on the host "
                                  "(`telltale host --tls-key`)")

    @model_validator(mode="after")
    def _https_has_its_certificate(self) -> HostSettings:
        if (self.url.scheme == "https") != (self.tls_cert is not None):
            raise ValueError("an https url needs tls_cert (the host's certificate), and tls_cert an "
                             "https url")
        return self

    @property
    def address(self) -> tuple[str, int]:
        return str(self.url.host), int(self.url.port or 80)

    def certificate(self, base: Path) -> Path | None:
        """tls_cert, a relative path read from `base` (the folder of devices.yaml)."""
        cert = self.tls_cert
        return base / cert if cert is not None and not cert.is_absolute() else cert


CAPTURE_MODES = ("sealed", "wireguard", "proxy")
BOUNDARY_TEXT = {
    "sealed": "sealed: a network namespace whose only way out is the capture",
    "wireguard": "wireguard: the device's WireGuard tunnel ends in the capture",
    "proxy": "proxy setting only; traffic that ignores it is not seen",
}


class Device(BaseModel):
    """One device of the farm, as the suite sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    platform: Literal[*PLATFORMS]  # the registry's keys: a new platform is known here too
    appium: Literal["local"] | HttpUrl = "local"
    description: str = ""
    firmware: str = "unknown"
    capabilities: dict[str, Any] = Field(default_factory=dict)
    browser_args: tuple[str, ...] = ()
    identifiers: dict[str, str] = Field(default_factory=dict)
    apps: dict[str, str] = Field(default_factory=dict,
                                 description="role -> package on a phone, e.g. system_browser")
    groups: tuple[str, ...] = ()
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    capture: Literal["sealed", "wireguard", "proxy"] | None = Field(
        None, description="the capture boundary; default sealed for local devices, proxy for remote ones")
    firmware_processes: tuple[FirmwareProcess, ...] = ()
    wireguard: WireGuardSettings = Field(default_factory=WireGuardSettings)
    settle: float = Field(0.1, ge=0, le=600,
                          description="seconds a window keeps capturing after the last action (what "
                          "leaves later is pinned on the scenario by the run-wide sweep)")
    drain: float | None = Field(
        None, ge=0, le=86400, description="seconds the capture keeps watching after the device's last "
        "scenario (after a nudge to flush); default 180 for phones, 5 for embedded devices")
    telemetry_agent: TelemetryAgent | None = None
    host: str | None = Field(None, description="the lab host (a key of `hosts:`) the device is attached "
                             "to; its session then goes through the `grid:` hub")

    def __repr__(self) -> str:  # shown as a step argument in reports
        return f"Device({self.name})"

    @property
    def boundary(self) -> str:
        """The capture mode in force: the configured one, else sealed for a local embedded device
        (it can live in a namespace of this machine); a phone or a remote device needs WireGuard
        or falls back to its proxy setting, and says so."""
        if self.capture:
            return self.capture
        return "sealed" if self.appium == "local" and PLATFORMS[self.platform].embedded else "proxy"

    @property
    def drain_seconds(self) -> float:
        """Phones batch telemetry for minutes; the embedded browser is watched for less (the
        platform's default drain)."""
        if self.drain is not None:
            return self.drain
        return PLATFORMS[self.platform].drain

    @property
    def boundary_text(self) -> str:
        return BOUNDARY_TEXT[self.boundary]

    @model_validator(mode="after")
    def _boundary_possible(self) -> Device:
        if self.capture == "sealed" and (self.appium != "local" or not PLATFORMS[self.platform].embedded):
            embedded = " or ".join(name for name, p in PLATFORMS.items() if p.embedded)
            raise ValueError(f"capture: sealed needs an embedded device (platform {embedded}, appium: "
                             "local) that can run in a network namespace of this machine; a phone "
                             "or a remote device can use capture: wireguard or proxy")
        if self.telemetry_agent and self.telemetry_agent.transport != "proxy" and self.boundary == "proxy":
            raise ValueError(f"telemetry_agent.transport {self.telemetry_agent.transport} escapes a proxy "
                             "setting by design: it would send to the real servers' addresses; run it "
                             "only behind a sealed or wireguard capture")
        if self.host and (self.firmware_processes or self.telemetry_agent):
            raise ValueError("firmware_processes and telemetry_agent run beside the harness; a device on "
                             "a lab host (host:) cannot have them in this version")
        names = [p.name for p in self.firmware_processes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"firmware_processes: duplicate name {dup[0]}")
        return self

    @field_validator("name")
    @classmethod
    def _usable_name(cls, v: str) -> str:
        why = names.problem(v)  # it names the device's captures, logs and leases
        if why:
            raise ValueError(why)
        return v

    @field_validator("groups", "identifiers", "apps")
    @classmethod
    def _usable_keys(cls, v: tuple[str, ...] | dict[str, str]) -> tuple[str, ...] | dict[str, str]:
        for k in v:
            why = names.problem(k)
            if why:
                raise ValueError(why)
        return v

    @field_validator("identifiers")
    @classmethod
    def _no_empty_identifiers(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not str(val).strip():
                raise ValueError(f"identifier {k} is empty")
        return v


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: GridSettings | None = None
    hosts: dict[str, HostSettings] = Field(default_factory=dict)
    devices: dict[str, Device]

    @field_validator("grid", mode="before")
    @classmethod
    def _grid_url(cls, v: Any) -> Any:
        return {"url": v} if isinstance(v, str) else v  # `grid: URL` is the hub on its usual ports

    @field_validator("hosts")
    @classmethod
    def _usable_host_names(cls, v: dict[str, HostSettings]) -> dict[str, HostSettings]:
        for k in v:
            why = names.problem(k)  # it names the host's folder of captures
            if why:
                raise ValueError(why)
        return v

    @model_validator(mode="after")
    def _hosts_known(self) -> Inventory:
        for d in self.devices.values():
            if d.host is None:
                continue
            if d.host not in self.hosts:
                known = ", ".join(sorted(self.hosts)) or "none"
                raise _at(("devices", d.name, "host"),
                          f"no host named {d.host!r} under hosts: (known: {known})")
            if self.grid is None:
                raise _at(("devices", d.name, "host"), "a device on a lab host needs `grid:` (the hub's URL)")
        return self

    def host_of(self, device: Device) -> HostSettings | None:
        return self.hosts[device.host] if device.host else None

    def get(self, name: str, source: str = "devices.yaml") -> Device:
        return _named(self.devices, name, "device", source)

    def host(self, name: str, source: str = "devices.yaml") -> HostSettings:
        """A lab host's settings by its name under hosts:."""
        return _named(self.hosts, name, "host", source)


def _named(found: dict, name: str, what: str, source: str):
    try:
        return found[name]
    except KeyError:
        known = ", ".join(sorted(found)) or "none"
        raise ConfigError(f"{source}: no {what} named {name!r} (known: {known})") from None


class _Located(ValueError):
    """A model-level fault that belongs to one field: its path, for the file's line."""

    def __init__(self, loc: tuple, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc


def _at(loc: tuple, msg: str) -> _Located:
    return _Located(loc, msg)


def select(inv: Inventory, names: list[str] | None, group: str | None,
           source: str = "devices.yaml") -> list[Device]:
    """The devices a run covers: named ones, a group (or `all`), else the embedded default."""
    chosen: list[Device] = [inv.get(n, source) for n in (names or [])]
    if group:
        members = [d for d in inv.devices.values() if group == "all" or group in d.groups]
        if not members:
            groups = sorted({g for d in inv.devices.values() for g in d.groups})
            known = ", ".join(groups) or "none"
            raise ConfigError(f"{source}: no device in group {group!r} (groups: {known})")
        chosen += [d for d in members if d not in chosen]
    return chosen or [inv.get(DEFAULT_DEVICE, source)]


def parse(text: str, source: str = "devices.yaml") -> Inventory:
    """Validate the text of a devices.yaml; ConfigError (one line) on any fault."""
    data, positions = yamlconfig.compose(text, source)
    if not isinstance(data, dict) or "devices" not in data:
        raise ConfigError(f"{source}:1: devices: a top-level 'devices:' mapping is required")
    devices = data.get("devices")
    if isinstance(devices, dict):
        # The mapping key is the device's name: one place to write it.
        data = {**data, "devices": {
            k: ({"name": k, **v} if isinstance(v, dict) else v) for k, v in devices.items()
        }}
    return yamlconfig.validate(Inventory, data, source, positions)


def load(path: str | Path) -> Inventory:
    return parse(yamlconfig.read_text(path), str(path))
