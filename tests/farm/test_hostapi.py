"""The host's channel without devices: every request needs the token, device operations name the
host's run, and files are served only by their listed names, in the byte ranges asked."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from selenium.common.exceptions import WebDriverException

from telltale import inventory, paths
from telltale.errors import ActionFailed, CaptureBroken, NoVerdict
from telltale.farm.host import Host
from telltale.farm.hostapi import RUN_HEADER, HostServer
from telltale.farm.remote import HostClient, HostGuardedDriver, HostUnreachable
from telltale.manifest import sha256_file

TOKEN = "t" * 32
INV = """grid: http://127.0.0.1:4444
hosts:
  lab1: {url: "http://127.0.0.1:7001"}
devices:
  phone-1: {platform: chromium, host: lab1}
"""


class _Device:
    """A hosted device whose window operations say what a real one says when its proxy is gone."""

    def describe(self):
        return {"device": "phone-1"}

    def open_window(self, window):
        raise CaptureBroken("capture proxy for phone-1 is not running")


@pytest.fixture
def served(tmp_path):
    host = Host("lab1", inventory.parse(INV), paths.Layout(tmp_path), tmp_path, "s" * 32)
    host.devices["phone-1"] = _Device()
    host.captures.mkdir()
    (host.captures / "phone-1-1.mitm").write_bytes(b"0123456789")
    (host.captures / "phone-10-1.mitm").write_bytes(b"not phone-1's")  # listed under phone-10 only
    (tmp_path / "secret.txt").write_text("outside the captures")
    server = HostServer(host, ("127.0.0.1", 0), TOKEN)
    server.serve()
    yield host, f"http://127.0.0.1:{server.server_address[1]}"
    server.close()


def _call(url, path, token=TOKEN, run=None, method="GET"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if run:
        headers[RUN_HEADER] = run
    req = urllib.request.Request(url + path, method=method, headers=headers,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_nothing_is_served_without_the_token(served):
    _, url = served
    for token in (None, "wrong-token-wrong-token-wrong", TOKEN[:-1]):
        for path in ("/status", "/devices/phone-1/files", "/devices/phone-1/files/phone-1-1.mitm"):
            code, body = _call(url, path, token=token)
            assert code == 401 and b"phone-1" not in body and b"0123" not in body, (token, path)
    assert _call(url, "/status")[0] == 200


def test_device_operations_belong_to_the_claimed_run(served):
    host, url = served
    assert _call(url, "/devices/phone-1/files", run="r1")[0] == 409  # no run claimed yet
    assert _call(url, "/runs/r1", method="POST")[0] == 200
    assert _call(url, "/runs/r2", method="POST")[0] == 409
    assert _call(url, "/devices/phone-1/files", run="r2")[0] == 409
    code, body = _call(url, "/devices/phone-1/files", run="r1")
    assert code == 200
    assert json.loads(body)["files"] == [{"name": "phone-1-1.mitm", "size": 10,
                                          "sha256": sha256_file(host.captures / "phone-1-1.mitm")}]
    assert _call(url, "/devices/phone-1/files/phone-1-1.mitm?start=3&end=7", run="r1") == (200, b"3456")


def test_only_the_devices_own_files_are_served(served):
    _, url = served
    _call(url, "/runs/r1", method="POST")
    for name in ("phone-10-1.mitm", "..%2Fsecret.txt", "secret.txt", ".phone-1"):
        assert _call(url, f"/devices/phone-1/files/{name}", run="r1")[0] == 404, name
    assert _call(url, "/devices/phone-9/files", run="r1")[0] == 404


def test_the_client_says_which_host_failed_and_why(served):
    _, url = served
    client = HostClient("lab1", url, TOKEN, "r1")
    client.claim()
    with pytest.raises(CaptureBroken, match="host lab1: capture proxy for phone-1 is not running"):
        client.json("POST", "/devices/phone-1/windows/open?id=w1")
    with pytest.raises(NoVerdict, match="refused .* 401"):
        HostClient("lab1", url, "x" * 32, "r1").json("GET", "/status")
    with pytest.raises(HostUnreachable, match=r"host lab1 \(http://127.0.0.1:9\) cannot be reached"):
        HostClient("lab1", "http://127.0.0.1:9", TOKEN, "r1").json("GET", "/status")


def test_a_short_token_is_refused(tmp_path):
    host = Host("lab1", inventory.parse(INV), paths.Layout(tmp_path), tmp_path, "s" * 32)
    with pytest.raises(Exception, match="too short"):
        HostServer(host, ("127.0.0.1", 0), "short")


def _self_signed(folder):
    """A certificate for 127.0.0.1 and its key, as a lab would make one per host."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (folder / "lab1.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "lab1.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return folder / "lab1.pem", folder / "lab1.key"


def test_an_https_host_is_trusted_by_its_own_certificate_only(tmp_path):
    cert, key = _self_signed(tmp_path)
    https = f'"https://127.0.0.1:7001", tls_cert: {cert}}}'
    inv = inventory.parse(INV.replace('"http://127.0.0.1:7001"}', https))
    assert inv.hosts["lab1"].tls_cert == cert
    host = Host("lab1", inv, paths.Layout(tmp_path), tmp_path, "s" * 32)
    server = HostServer(host, ("127.0.0.1", 0), TOKEN, tls=(str(cert), str(key)))
    server.serve()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        assert HostClient("lab1", url, TOKEN, "r1", cert=cert).json("GET", "/status")["host"] == "lab1"
        with pytest.raises(HostUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
            HostClient("lab1", url, TOKEN, "r1").json("GET", "/status")  # the system's CAs do not vouch
        with pytest.raises(HostUnreachable):
            HostClient("lab1", url.replace("https", "http"), TOKEN, "r1").json("GET", "/status")
    finally:
        server.close()


def test_https_and_its_certificate_go_together():
    with pytest.raises(Exception, match="hosts.lab1: an https url needs tls_cert"):
        inventory.parse(INV.replace('"http://127.0.0.1:7001"', '"https://127.0.0.1:7001"'))


class _FailingDriver:
    """Contract stand-in for a device's driver whose session went through the hub: its calls fail
    as Selenium's do when the hub cannot reach a relay node (the real path, a host killed
    mid-run, is tests/e2e/test_grid_farm.py)."""

    def __init__(self):
        self.asked = []

    def ensure(self, incognito):
        self.asked.append(("ensure", incognito))
        raise WebDriverException("Unable to execute request for an existing session: Failed to "
                                 "execute request (GET http://127.0.0.1:1/session/s/window/handles)")

    def open_in_new_tab(self, url):
        raise ActionFailed("could not open a new tab: Unable to execute request for an existing session")

    def screenshot(self):
        return b"png"


def test_a_drivers_failure_names_the_host_and_blames_a_host_that_is_gone(served):
    host, url = served
    driver = _FailingDriver()
    guarded = HostGuardedDriver(driver, HostClient("lab1", url, TOKEN, "r1"))
    assert guarded.screenshot() == b"png"  # what works passes through
    with pytest.raises(ActionFailed, match=r"could not open a new tab: .*\(a device of host lab1, through"):
        guarded.open_in_new_tab("https://example.com/")
    with pytest.raises(ActionFailed, match=r"driver of a device of host lab1 .* failed: Unable to"):
        guarded.ensure(True)
    gone = HostGuardedDriver(driver, HostClient("lab1", "http://127.0.0.1:9", TOKEN, "r1"))
    with pytest.raises(HostUnreachable, match=r"host lab1 .* cannot be reached: .*; the device's driver "
                                              r"failed: could not open a new tab"):
        gone.open_in_new_tab("https://example.com/")
    asked = len(driver.asked)
    with pytest.raises(HostUnreachable, match="host lab1"):  # no session asked of a host that is gone
        gone.ensure(False)
    assert len(driver.asked) == asked


def test_a_file_is_fetched_in_chunks_after_what_the_mirror_holds(served, tmp_path):
    host, url = served
    client = HostClient("lab1", url, TOKEN, "r1")
    client.claim()
    local = tmp_path / "mirror" / "phone-1-1.mitm"
    local.parent.mkdir()
    local.write_bytes(b"01")
    asked = []
    read = client.read
    client.read = lambda *a: asked.append(a[2:]) or read(*a)
    assert client.append("phone-1", "phone-1-1.mitm", local, 7, chunk=3) == 7
    assert local.read_bytes() == b"0123456" and asked == [(2, 5), (5, 7)]
    assert client.append("phone-1", "phone-1-1.mitm", local, 7, chunk=3) == 7 and len(asked) == 2
    # the host has 10 bytes: asked for more, the size reached says so
    assert client.append("phone-1", "phone-1-1.mitm", local, 12, chunk=4) == 10
    assert local.read_bytes() == b"0123456789"
