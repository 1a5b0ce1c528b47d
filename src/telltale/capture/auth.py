"""Proxy authentication for a capture that listens beyond this machine, with no secret on a
command line.

A capture proxy on a network address (a phone on the lab's Wi-Fi points its proxy setting
there) must not serve whoever reaches that address. The credentials come from the
environment variable devices.yaml names; the harness writes a bcrypt hash of them to a
private file and mitmdump is given only that file's path (a command line is readable by
every user of the machine; `/proc/<pid>/environ` and a 0600 file are not).

Clients that reach the capture on a loopback address are this machine's own processes (the
embedded browser, the harness): they are not asked, since Chromium cannot answer a proxy's
challenge without a person. Everyone else must send Proxy-Authorization. mitmproxy's own
`proxyauth` cannot make that distinction, so this addon does the check itself, with
mitmproxy's htpasswd reader and challenge response.
"""

from __future__ import annotations

import ipaddress
import os
import weakref
from pathlib import Path

import bcrypt

OPTION = "telltale_auth"


def write_htpasswd(path: Path, credentials: str) -> Path:
    """`user:password` -> an htpasswd file holding a bcrypt hash of it, readable by its owner only."""
    user, sep, password = credentials.partition(":")
    if not sep or not user or not password:
        raise ValueError("proxy credentials must be user:password")
    line = f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fo:
        fo.write(line)
    return path


def from_this_machine(sockname: object) -> bool:
    """Whether a client reached the capture on a loopback address (only local processes can)."""
    try:
        return ipaddress.ip_address(str(sockname[0]).split("%")[0]).is_loopback  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return False


class RemoteClientAuth:
    """mitmdump addon: a proxy client that is not this machine must authenticate (Basic)."""

    def __init__(self) -> None:
        self.users = None
        self.authenticated: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def load(self, loader) -> None:
        loader.add_option(OPTION, str, "", "htpasswd file: clients beyond loopback must authenticate.")

    def configure(self, updated) -> None:
        from mitmproxy import ctx
        from mitmproxy.utils.htpasswd import HtpasswdFile

        if OPTION in updated:
            path = getattr(ctx.options, OPTION)
            self.users = HtpasswdFile.from_file(Path(path)) if path else None

    def _allowed(self, f) -> bool:
        from mitmproxy.addons.proxyauth import parse_http_basic_auth
        from mitmproxy.proxy.mode_specs import RegularMode

        if self.users is None or not isinstance(f.client_conn.proxy_mode, RegularMode):
            return True
        if f.client_conn in self.authenticated or from_this_machine(f.client_conn.sockname):
            return True
        try:
            _, user, password = parse_http_basic_auth(f.request.headers.get("Proxy-Authorization", ""))
        except ValueError:
            return False
        return self.users.check_password(user, password)

    def _gate(self, f, connect: bool) -> None:
        from mitmproxy.addons.proxyauth import make_auth_required_response

        if self._allowed(f):
            f.request.headers.pop("Proxy-Authorization", None)  # never part of the evidence
            if connect:
                self.authenticated[f.client_conn] = True
            return
        f.metadata["telltale.refused"] = "proxy authentication required"
        f.response = make_auth_required_response(True)

    def http_connect(self, f) -> None:
        self._gate(f, connect=True)

    def requestheaders(self, f) -> None:
        if f.request.method != "CONNECT":
            self._gate(f, connect=False)
