"""The evidence bundle: verify passes on a fresh one and names every file changed, added or removed;
a signed manifest is checked against the signer's key."""

import json

import pytest

from telltale import manifest
from tests.e2e.helpers import ROOT


@pytest.fixture
def run(tmp_path):
    r = tmp_path / "20261124T000000Z-abcd"
    (r / "captures").mkdir(parents=True)
    (r / "allure-results").mkdir()
    (r / "captures" / "dev-1.mitm").write_bytes(b"flow bytes " * 100)
    (r / "allure-results" / "x-result.json").write_text('{"status": "failed"}')
    (r / "report.html").write_text("<html>report</html>")
    return r


def test_fresh_bundle_verifies(run):
    manifest.write_manifest(run, ROOT)
    written = json.loads((run / "manifest.json").read_text())
    assert set(written["files"]) == {"captures/dev-1.mitm", "allure-results/x-result.json", "report.html"}
    assert written["tools"]["mitmproxy"].startswith("12.")
    v = manifest.verify(run)
    assert v.ok and v.signature == "absent"


def test_one_changed_byte_in_a_capture_is_named(run):
    manifest.write_manifest(run, ROOT)
    cap = run / "captures" / "dev-1.mitm"
    data = bytearray(cap.read_bytes())
    data[100] ^= 1
    cap.write_bytes(bytes(data))
    (run / "allure-results" / "x-result.json").unlink()
    (run / "notes.txt").write_text("added later")
    v = manifest.verify(run)
    assert not v.ok
    assert v.changed == ("captures/dev-1.mitm",)
    assert v.removed == ("allure-results/x-result.json",)
    assert v.added == ("notes.txt",)


def test_signed_manifest_is_checked_against_the_signers_key(run, tmp_path):
    key = tmp_path / "signing.pem"
    manifest.new_signing_key(key)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    manifest.write_manifest(run, ROOT, key)
    pub = tmp_path / "signer.pub.pem"
    pub.write_bytes((run / manifest.PUBLIC_KEY).read_bytes())
    assert manifest.verify(run, pub).signature == "valid"
    # Someone edits a hash in the manifest to hide a change: the signature no longer holds.
    m = json.loads((run / "manifest.json").read_text())
    m["files"]["report.html"]["sha256"] = "0" * 64
    (run / "manifest.json").write_text(json.dumps(m, indent=1, sort_keys=True))
    v = manifest.verify(run, pub)
    assert v.signature.startswith("INVALID") and not v.ok


def test_a_bundle_signed_by_another_key_is_not_valid(run, tmp_path):
    mine, theirs = tmp_path / "mine.pem", tmp_path / "theirs.pem"
    manifest.new_signing_key(mine)
    manifest.new_signing_key(theirs)
    manifest.write_manifest(run, ROOT, theirs)
    manifest.write_manifest(tmp_path, ROOT, mine)  # only to get my public key
    my_pub = tmp_path / manifest.PUBLIC_KEY
    assert manifest.verify(run, my_pub).signature.startswith("INVALID")


def test_a_files_hash_covers_the_prefix_it_is_given(tmp_path, monkeypatch):
    import hashlib

    f = tmp_path / "growing.mitm"
    data = bytes(range(256)) * 40
    f.write_bytes(data)
    monkeypatch.setattr(manifest, "CHUNK", 1000)  # the prefix ends inside a block, after several
    for size in (0, 1, 999, 1000, 3333, len(data)):
        assert manifest.sha256_file(f, size) == hashlib.sha256(data[:size]).hexdigest(), size
    assert manifest.sha256_file(f) == hashlib.sha256(data).hexdigest()
    assert manifest.sha256_file(f, len(data) + 10) == hashlib.sha256(data).hexdigest()  # no more than it has
