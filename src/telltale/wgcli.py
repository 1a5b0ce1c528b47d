"""`telltale wireguard DEVICE`: the phone's tunnel into the capture, as a config and a QR code.

For devices with ``capture: wireguard``: the phone runs the WireGuard app with always-on VPN,
so the capture sees what the phone sends whatever the app or firmware thinks of proxy settings.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from pathlib import Path

from telltale.errors import ConfigError, SetupError

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # the name becomes a file name


def parse_endpoint(text: str, default_port: int) -> tuple[str, int]:
    """HOST, HOST:PORT, [IPv6]:PORT or a bare IPv6 address -> (host, port)."""
    host, port = text.strip(), default_port
    if host.startswith("["):
        inner, sep, rest = host[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConfigError(f"--endpoint {text}: write an IPv6 endpoint as [ADDRESS]:PORT")
        host, port_text = inner, rest[1:]
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    else:
        port_text = ""
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"--endpoint {text}: {port_text!r} is not a UDP port (1-65535)")
        port = int(port_text)
    if not host or (":" in host and not _is_ip(host)):
        raise ConfigError(f"--endpoint {text}: no host (want HOST:PORT, e.g. 192.168.1.20:51820)")
    return host, port


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


PHONE_STEPS = """\
On the phone:
  1. Install the WireGuard app (Google Play / F-Droid on Android, the App Store on iOS).
  2. In the app: + > Scan from QR code (or import {conf}); name the tunnel telltale-{device};
     keep "All applications" (an excluded app is an app not captured).
  3. Android: Settings > Network & internet > VPN > WireGuard (gear): turn on "Always-on VPN"
     and "Block connections without VPN" (lockdown: apps cannot send around the tunnel).
     iOS: edit the tunnel, turn on "On-Demand" for Wi-Fi and cellular (iOS has no lockdown switch).
  4. Install and trust the capture CA (docs/devices.md) so HTTPS can be read, not only seen.
  5. Turn the tunnel on; the phone has no internet until the capture host listens."""


def _cmd(args: argparse.Namespace) -> int:
    from telltale import inventory, paths
    from telltale.capture import wireguard

    lay = paths.layout()
    devices_file = Path(args.devices_file) if args.devices_file else lay.devices
    dev = inventory.load(devices_file).get(args.device, str(devices_file))
    if dev.boundary != "wireguard":
        raise ConfigError(
            f"{devices_file}: device {dev.name} has capture boundary {dev.boundary}, not wireguard: "
            f"add `capture: wireguard` under devices.{dev.name} to capture it through a WireGuard tunnel")
    if not _SAFE_NAME.fullmatch(dev.name):
        raise ConfigError(f"{devices_file}: device name {dev.name!r} cannot name a key file "
                          "(letters, digits, '.', '_', '-')")
    if args.endpoint or dev.wireguard.endpoint:
        host, port = parse_endpoint(args.endpoint or dev.wireguard.endpoint, dev.wireguard.port)
    else:
        host, port = wireguard.local_ipv4(), dev.wireguard.port
        if host is None:
            raise SetupError("no non-loopback IPv4 address on this machine: pass --endpoint HOST:PORT "
                             "(an address the phone can reach)")
    keyfile = wireguard.key_file(lay.state, dev.name)
    keys = wireguard.ensure_keys(keyfile)
    conf = wireguard.client_config(keys, wireguard.endpoint(host, port))
    conf_path = wireguard.conf_file(lay.state, dev.name)
    paths.write_private(conf_path, conf + "\n")  # holds the phone's private key

    print(f"telltale wireguard: {dev.name} ({dev.boundary_text})")
    print(f"keys {keyfile} (the capture reads them; delete it to re-key, then scan again)")
    print(f"phone config {conf_path} (holds the phone's private key):\n")
    print(conf + "\n")
    if not args.no_qr:
        print(wireguard.qr(conf))
    where = wireguard.endpoint(host, port)
    print(f"The capture host must listen on {where} UDP, and the phone must reach it:")
    print(f"  (`telltale run` listens on {dev.wireguard.listen}:{dev.wireguard.port}; "
          f"devices.{dev.name}.wireguard in devices.yaml sets it)")
    print("  (behind NAT or a firewall, forward that UDP port to the capture host)\n")
    print(PHONE_STEPS.format(conf=conf_path.name, device=dev.name))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("wireguard", help="a capture: wireguard device's tunnel config and QR code")
    p.add_argument("device", help="device name in devices.yaml (it must have capture: wireguard)")
    p.add_argument("--endpoint", default=None,
                   help="HOST:PORT the phone sends its tunnel to (default: this machine's IPv4, port 51820)")
    p.add_argument("--devices-file", default=None, help="devices.yaml to read (default: the checkout's)")
    p.add_argument("--no-qr", action="store_true", help="do not print the QR code")
    p.set_defaults(func=_cmd)
