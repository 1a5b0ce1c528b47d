"""The WireGuard capture boundary: a phone's always-on tunnel ends in mitmproxy's WireGuard mode.

A phone that cannot be cabled behind the capture host still cannot route around a VPN that
Android enforces (always-on, block connections without VPN): everything it sends, TCP, UDP and
DNS, arrives in mitmdump (``--mode wireguard:KEYFILE@HOST:PORT``). The keys live in the JSON
file mitmproxy itself reads (and would create), so the capture and the phone's config can never
disagree; one file per device, private (mode 0600) in the git-ignored state folder.
"""

from __future__ import annotations

import io
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import mitmproxy_rs
import qrcode

from telltale.errors import ConfigError
from telltale.paths import write_private

DEFAULT_PORT = 51820  # WireGuard's usual port, and mitmproxy's default for this mode
CLIENT_ADDRESS = "10.0.0.1/32"  # what mitmproxy's own client config gives the peer
CLIENT_DNS = "10.0.0.53"  # mitmproxy answers DNS sent here itself (its resolver, or the addon offline)


@dataclass(frozen=True)
class WireGuardKeys:
    """The pair of private keys in mitmproxy's key file: the capture's and the phone's."""

    server_key: str
    client_key: str

    @property
    def server_public(self) -> str:
        return mitmproxy_rs.wireguard.pubkey(self.server_key)

    @property
    def client_public(self) -> str:
        return mitmproxy_rs.wireguard.pubkey(self.client_key)


def key_file(state: Path, device: str) -> Path:
    """Where a device's keys are kept: the capture run and `telltale wireguard` must agree."""
    return state / "wireguard" / f"{device}.json"


def conf_file(state: Path, device: str) -> Path:
    """The phone's config, written beside its keys (it holds the phone's private key)."""
    return state / "wireguard" / f"{device}.conf"


def ensure_keys(path: Path) -> WireGuardKeys:
    """The keys in `path`, made first (mitmproxy's format, mode 0600) if the file is missing."""
    if not path.exists():
        fresh = {"server_key": mitmproxy_rs.wireguard.genkey(), "client_key": mitmproxy_rs.wireguard.genkey()}
        write_private(path, json.dumps(fresh, indent=4), replace=False)  # as mitmproxy writes it
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = WireGuardKeys(data["server_key"], data["client_key"])
        for key in (keys.server_key, keys.client_key):
            mitmproxy_rs.wireguard.pubkey(key)  # a key mitmdump would refuse is refused here
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a mitmproxy WireGuard key file ({e}); delete it to make new keys") \
            from None
    if path.stat().st_mode & 0o077:  # e.g. made by mitmdump itself: private keys stay private
        path.chmod(0o600)
    return keys


def mode_spec(keyfile: Path, host: str, port: int) -> str:
    """mitmdump's ``--mode`` value: WireGuard, these keys, listening on host:port (UDP)."""
    if not 0 < port < 65536:
        raise ValueError(f"WireGuard port {port} is not a UDP port")
    return f"wireguard:{keyfile}@{host}:{port}"


def endpoint(host: str, port: int) -> str:
    """host:port as WireGuard writes an endpoint (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def client_config(keys: WireGuardKeys, endpoint: str, address: str = CLIENT_ADDRESS, dns: str = CLIENT_DNS,
                  allowed_ips: str = "0.0.0.0/0, ::/0") -> str:
    """The phone's config (wg-quick / WireGuard app), laid out as mitmproxy prints its own.

    mitmproxy's own allows 0.0.0.0/0 only; ::/0 here routes IPv6 into the tunnel too, so a phone
    without "block connections without VPN" cannot send IPv6 around the capture.
    """
    return "\n".join([
        "[Interface]",
        f"PrivateKey = {keys.client_key}",
        f"Address = {address}",
        f"DNS = {dns}",
        "",
        "[Peer]",
        f"PublicKey = {keys.server_public}",
        f"AllowedIPs = {allowed_ips}",
        f"Endpoint = {endpoint}",
    ])


def qr(text: str, invert: bool = True) -> str:
    """`text` as a QR code of block characters; inverted (light modules drawn) for dark terminals."""
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(text)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=invert)
    return out.getvalue()


def local_ipv4() -> str | None:
    """This machine's first non-loopback IPv4: the default route's source, as mitmproxy picks it.

    A UDP socket's connect sends nothing; it only asks the kernel which address it would use.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: any routable address does, none is contacted
            ip = s.getsockname()[0]
            if not ip.startswith("127."):
                return ip
    except OSError:
        pass
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return None
    return next((i[4][0] for i in infos if not i[4][0].startswith("127.")), None)
