"""`telltale setup`: everything a fresh machine needs, done by the command itself.

Idempotent and quick when nothing changed (stamps), so every tox env can run it.
System packages need root; without it the message names what to install.
"""

from __future__ import annotations

import argparse

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from telltale.errors import SetupError
from telltale.paths import Layout

# Debian package -> the program it must provide.
SYSTEM_PACKAGES = {
    "chromium": "/usr/bin/chromium",
    "chromium-driver": "/usr/bin/chromedriver",
    "libnss3-tools": "certutil",
    # The sealed capture boundary: namespaces and links, rules, the packet record.
    "iproute2": "ip",
    "nftables": "nft",
    "tcpdump": "tcpdump",
    # WireGuard devices (the userspace client stands in for a phone in the tests).
    "wireguard-tools": "wg",
    "wireguard-go": "wireguard-go",
    # Selenium Grid 4 (the farm's hub and relay nodes: the jar comes with npm ci).
    "default-jre-headless": "java",
}
CA_NICK = "Telltale capture CA"


def _say(msg: str) -> None:
    print(f"telltale setup: {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], what: str, **kw) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        out = (r.stdout + r.stderr).strip().splitlines()[-15:]
        raise SetupError(f"{what} failed (exit {r.returncode}): {' '.join(cmd)}\n" + "\n".join(out))


def missing_system_packages() -> list[str]:
    return [pkg for pkg, prog in SYSTEM_PACKAGES.items()
            if not (Path(prog).exists() if prog.startswith("/") else shutil.which(prog))]


def ensure_system_packages() -> None:
    missing = missing_system_packages()
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SetupError(
            "missing system packages: " + " ".join(missing)
            + f" (install them: sudo apt-get install {' '.join(missing)})"
        )
    _say(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
         "apt-get install", env=env)


def ensure_node_tools(lay: Layout) -> None:
    """`npm ci` into the project when node_modules does not match package-lock.json."""
    lock = lay.root / "package-lock.json"
    if not lock.exists():
        raise SetupError(f"{lock} is missing")
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = lay.root / "node_modules" / ".telltale-lock-sha256"
    if (lay.node_bin / "appium").exists() and stamp.exists() and stamp.read_text() == want:
        return
    if not shutil.which("npm"):
        raise SetupError("npm is missing (install Node.js 20 or newer with npm)")
    _say("installing Appium, its chromium driver, Allure and the Selenium Grid server with npm ci")
    _run(["npm", "ci", "--no-audit", "--no-fund"], "npm ci", cwd=lay.root)
    stamp.write_text(want)


def ensure_ca(lay: Layout) -> Path:
    """The capture CA of this checkout: created once, private key readable by its owner only."""
    from mitmproxy.certs import CertStore

    conf = lay.mitmproxy_conf
    if not (conf / "mitmproxy-ca.pem").exists():
        _say(f"creating the capture CA in {conf}")
        CertStore.create_store(conf, "mitmproxy", 2048, organization="Telltale",
                               cn="Telltale capture CA (one checkout)")
    os.chmod(lay.state, 0o700)
    os.chmod(conf, 0o700)
    for secret in ("mitmproxy-ca.pem", "mitmproxy-ca.p12"):
        if (conf / secret).exists():
            os.chmod(conf / secret, 0o600)
    return lay.ca_cert


def _nss_fingerprint(db: str) -> str | None:
    r = subprocess.run(["certutil", "-d", db, "-L", "-n", CA_NICK, "-a"],
                       capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def ensure_browser_trust(lay: Layout) -> None:
    """Trust the capture CA in the NSS db Chromium reads from the Appium process's HOME."""
    lay.nssdb.mkdir(parents=True, exist_ok=True)
    db = f"sql:{lay.nssdb}"
    if not (lay.nssdb / "cert9.db").exists():
        _run(["certutil", "-d", db, "-N", "--empty-password"], "creating the NSS db")
    pem = lay.ca_cert.read_text()
    have = _nss_fingerprint(db)
    if have is not None and have.split() == pem.split():
        return
    if have is not None:
        _run(["certutil", "-d", db, "-D", "-n", CA_NICK], "removing the old capture CA")
    _say("trusting the capture CA in the browser's NSS db")
    _run(["certutil", "-d", db, "-A", "-t", "C,,", "-n", CA_NICK, "-i", str(lay.ca_cert)],
         "adding the capture CA to the NSS db")


def setup(lay: Layout, system: bool = True, node: bool = True) -> None:
    if system:
        ensure_system_packages()
    if node:
        ensure_node_tools(lay)
    ensure_ca(lay)
    ensure_browser_trust(lay)


def _setup(args: argparse.Namespace) -> int:
    from telltale import paths

    lay = paths.layout()
    setup(lay, system=not args.no_system, node=not args.no_node)
    print(f"telltale setup: ready in {lay.root}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("setup", help="install what a run needs (apt, npm ci, capture CA)")
    p.add_argument("--no-system", action="store_true", help="do not check Debian packages")
    p.add_argument("--no-node", action="store_true", help="do not run npm ci")
    p.set_defaults(func=_setup)
