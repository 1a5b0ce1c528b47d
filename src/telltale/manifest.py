"""The evidence bundle: a run folder with a manifest a regulator can check.

``manifest.json`` lists the SHA-256 and size of every file of the run folder and
the versions of the tools that made it. With a signing key (Ed25519, PEM), the
manifest is signed (``manifest.sig``) and the public key is put beside it.
``telltale verify`` recomputes everything and names each file that was changed,
added or removed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from telltale.errors import TelltaleError

MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "manifest-signer.pub.pem"
OWN = {MANIFEST, SIGNATURE, PUBLIC_KEY}
CHUNK = 1 << 20


def sha256_file(path: Path, size: int | None = None) -> str:
    """SHA-256 of the first `size` bytes of a file (all of it for None): a file that is still
    growing is vouched for as the prefix of the size given with the hash."""
    h = hashlib.sha256()
    left = size
    with open(path, "rb") as fo:
        while left is None or left > 0:
            block = fo.read(CHUNK if left is None else min(CHUNK, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h.hexdigest()


def files_of(run: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(run.rglob("*")):
        rel = p.relative_to(run).as_posix()
        if p.is_file() and not p.is_symlink() and rel not in OWN:
            out[rel] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    return out


def links_of(run: Path) -> list[str]:
    """Symbolic links in a run folder: what they point at is outside what the manifest vouches for."""
    return [f"{p.relative_to(run).as_posix()} -> {os.readlink(p)}" for p in sorted(run.rglob("*"))
            if p.is_symlink()]


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                              check=False).stdout.strip() or "unknown"
    except OSError:
        return "missing"


def tool_versions(root: Path) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("telltale", "mitmproxy", "pytest", "pytest-bdd", "allure-pytest-bdd", "hyperscan",
                 "Appium-Python-Client"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    for pkg in ("appium", "appium-chromium-driver", "allure"):
        pj = root / "node_modules" / pkg / "package.json"
        out[f"npm:{pkg}"] = json.loads(pj.read_text())["version"] if pj.exists() else "missing"
    out["chromium"] = _version(["/usr/bin/chromium", "--version"])
    out["chromedriver"] = _version(["/usr/bin/chromedriver", "--version"])
    # The sealed boundary's parts: the rules and the packet record.
    out["nft"] = _version(["nft", "--version"])
    out["tcpdump"] = _version(["tcpdump", "--version"]).splitlines()[0]
    for dist in ("dpkt",):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def write_manifest(run: Path, root: Path, signing_key: Path | None = None,
                   incomplete: str | None = None) -> Path:
    """`incomplete`: why the run stopped early (its results cover only what ran before)."""
    manifest = {
        "run": run.name,
        **({"incomplete": incomplete} if incomplete else {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tools": tool_versions(root),
        "files": files_of(run),
    }
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    (run / MANIFEST).write_bytes(data)
    for stale in (SIGNATURE, PUBLIC_KEY):
        (run / stale).unlink(missing_ok=True)
    if signing_key is not None:
        key = load_private_key(signing_key)
        (run / SIGNATURE).write_text(base64.b64encode(key.sign(data)).decode() + "\n")
        (run / PUBLIC_KEY).write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return run / MANIFEST


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise TelltaleError(f"{path}: not a readable unencrypted PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise TelltaleError(f"{path}: the signing key must be Ed25519")
    return key


def new_signing_key(path: Path) -> None:
    """Write a fresh Ed25519 key (mode 0600) for signing manifests."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fo:
        fo.write(pem)


@dataclass(frozen=True)
class Verdict:
    changed: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    signature: str  # "absent", "valid", or why it is not
    outside: tuple[str, ...] = ()  # names or links that lead out of the run folder
    incomplete: str | None = None  # the run stopped early: why (its results cover what ran)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.added or self.removed or self.outside) \
            and self.signature in ("absent", "valid")


def verify(run: Path, public_key: Path | None = None) -> Verdict:
    mpath = run / MANIFEST
    try:
        data = mpath.read_bytes()
        manifest = json.loads(data)
        want: dict[str, dict] = manifest["files"]
        if not isinstance(want, dict) or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str)
                                                 for v in want.values()):
            raise ValueError("'files' is not a map of file names to their sha256")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TelltaleError(f"{mpath}: no readable manifest ({e})") from None
    if not want:
        raise TelltaleError(f"{mpath}: the manifest lists no file: there is nothing to verify")
    # A name that leaves the folder is never looked up (verify reads only inside the run folder).
    outside = [n for n in want if n.startswith("/") or ".." in Path(n).parts or "\\" in n]
    outside += links_of(run)
    want = {n: v for n, v in want.items() if n not in outside}
    have = files_of(run)
    changed = tuple(sorted(f for f in want.keys() & have.keys() if want[f]["sha256"] != have[f]["sha256"]))
    added = tuple(sorted(have.keys() - want.keys()))
    removed = tuple(sorted(want.keys() - have.keys()))
    sig_path = run / SIGNATURE
    if not sig_path.exists():
        signature = "absent" if public_key is None else "missing (a public key was given)"
    else:
        key_path = public_key or run / PUBLIC_KEY
        try:
            key = serialization.load_pem_public_key(key_path.read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise TelltaleError(f"{key_path}: not an Ed25519 public key")
            key.verify(base64.b64decode(sig_path.read_text()), data)
            signature = "valid"
        except InvalidSignature:
            signature = "INVALID: the manifest is not what the key signed"
        except (OSError, ValueError) as e:
            signature = f"unverifiable: {e}"
    incomplete = manifest.get("incomplete") if isinstance(manifest, dict) else None
    return Verdict(changed, added, removed, signature, tuple(outside), incomplete)


def _given_key(arg: str | None) -> Path | None:
    """The --public-key file, checked before verifying: a key the user named that cannot be read
    leaves the signature unjudged (exit 2), unlike a bundle whose own key is gone (FAILED)."""
    if not arg:
        return None
    path = Path(arg)
    try:
        serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError) as e:
        raise TelltaleError(f"{path}: not a readable PEM public key: {e}") from None
    return path


def _verify_cmd(args: argparse.Namespace) -> int:
    run = Path(args.run_dir)
    v = verify(run, _given_key(args.public_key))
    if v.incomplete:
        print(f"incomplete run: {v.incomplete}")
    for label, names in (("changed", v.changed), ("added", v.added), ("removed", v.removed),
                         ("outside the run folder", v.outside)):
        for n in names:
            print(f"{label}: {n}")
    sig = v.signature
    if sig == "valid" and not args.public_key:
        sig += " (for the key in the bundle; pass --public-key to check who signed)"
    print(f"signature: {sig}")
    print(f"verify: {'OK' if v.ok else 'FAILED'}: {run}")
    return 0 if v.ok else 1


def _keygen_cmd(args: argparse.Namespace) -> int:
    try:
        new_signing_key(Path(args.path))
    except FileExistsError:
        raise TelltaleError(f"{args.path}: exists; not overwritten (a key in use must not be lost)") from None
    except OSError as e:
        raise TelltaleError(f"{args.path}: cannot write the key: {e.strerror or e}") from None
    print(f"telltale keygen: Ed25519 signing key written to {args.path} (mode 0600; keep it out of git)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check a run folder against its manifest (and signature)")
    p.add_argument("run_dir")
    p.add_argument("--public-key", default=None, help="the signer's Ed25519 public key (PEM)")
    p.set_defaults(func=_verify_cmd)
    p = sub.add_parser("keygen", help="make an Ed25519 key for signing evidence manifests")
    p.add_argument("path")
    p.set_defaults(func=_keygen_cmd)
