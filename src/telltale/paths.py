"""Where a checkout keeps its things: node tools, per-checkout state, reports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def state(self) -> Path:
        """Git-ignored per-checkout state: the capture CA (private key) and the browser's trust."""
        return self.root / ".telltale"

    @property
    def mitmproxy_conf(self) -> Path:
        return self.state / "mitmproxy"

    @property
    def ca_cert(self) -> Path:
        return self.mitmproxy_conf / "mitmproxy-ca-cert.pem"

    @property
    def browser_home(self) -> Path:
        """HOME of the Appium process: Chromium on Linux reads $HOME/.pki/nssdb for trust."""
        return self.state / "home"

    @property
    def nssdb(self) -> Path:
        return self.browser_home / ".pki" / "nssdb"

    @property
    def node_bin(self) -> Path:
        return self.root / "node_modules" / ".bin"

    @property
    def devices(self) -> Path:
        return self.root / "devices.yaml"

    @property
    def reports(self) -> Path:
        return self.root / "reports"


def find_root(start: Path | None = None) -> Path:
    """The checkout: TELLTALE_ROOT, or the nearest folder up from `start` with devices.yaml."""
    env = os.environ.get("TELLTALE_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "devices.yaml").is_file() and (d / "package.json").is_file():
            return d
    return here


def layout(start: Path | None = None) -> Layout:
    return Layout(find_root(start))


def write_private(path: Path, text: str, replace: bool = True) -> None:
    """Write `text` to `path` readable by the owner only; never visible half-written.

    Secrets go this way (keys, the Grid's registration secret). Without `replace`, an existing
    file wins (link fails): two runs racing keep one key pair.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fo:
            fo.write(text)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)
