"""The capture CA lives in the git-ignored state folder, its private key readable by its owner only."""

import stat
import subprocess

from telltale import provision


def test_ca_key_is_private_and_state_is_ignored(layout):
    provision.ensure_ca(layout)
    conf = layout.mitmproxy_conf
    for secret in ("mitmproxy-ca.pem", "mitmproxy-ca.p12"):
        assert stat.S_IMODE((conf / secret).stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.state.stat().st_mode) == 0o700
    r = subprocess.run(["git", "check-ignore", "-q", str(conf / "mitmproxy-ca.pem")], cwd=layout.root)
    assert r.returncode == 0, "the CA key must be git-ignored"


def test_missing_system_package_without_root_names_the_packages(monkeypatch):
    monkeypatch.setattr(provision, "missing_system_packages", lambda: ["chromium-driver"])
    monkeypatch.setattr(provision.os, "geteuid", lambda: 1000)
    try:
        provision.ensure_system_packages()
    except provision.SetupError as e:
        assert "chromium-driver" in str(e) and "apt-get install chromium-driver" in str(e)
    else:
        raise AssertionError("expected a SetupError")
