"""`accept_unexamined` kind `opaque`: a region that changes on every differential run (a nonce, a
random-IV ciphertext) is accepted for the hosts a named, reasoned decision lists, as traffic the
proxy could not examine is; it covers nothing else, and nothing else covers it but `any`."""

from __future__ import annotations

from telltale.destinations import policy

TEXT = """\
defaults:
  accept_unexamined:
    - name: miui-encrypted-telemetry
      hosts: ["*.miui.com"]
      kinds: [opaque]
      reason: the collector's payload is encrypted per request; reviewed by hand
    - name: pinned-updates
      hosts: [update.example.org]
      kinds: [tls-refused, no-ip]
      reason: the updater pins its certificate
devices:
  phone:
    accept_unexamined:
      - name: everything-from-the-vendor
        hosts: [vendor.example.net]
        kinds: [any]
        reason: the vendor's own servers, under contract
"""


def _policy(tmp_path, device: str | None = None) -> policy.Policy:
    f = tmp_path / "policy.yaml"
    f.write_text(TEXT)
    return policy.resolve(policy.load(f), device=device, source=f)


def test_an_opaque_acceptance_covers_opaque_regions_to_its_hosts_only(tmp_path):
    pol = _policy(tmp_path)
    a = pol.acceptance("opaque", "tracking.intl.miui.com")
    assert a is not None and a.name == "miui-encrypted-telemetry"
    assert pol.acceptance("opaque", "tracker.example.com") is None
    assert pol.acceptance("opaque", "update.example.org") is None, "a tls-refused acceptance is not opaque"
    assert pol.acceptance("tls-refused", "tracking.intl.miui.com") is None, "opaque accepts nothing else"


def test_any_covers_opaque_too(tmp_path):
    pol = _policy(tmp_path, device="phone")
    a = pol.acceptance("opaque", "vendor.example.net")
    assert a is not None and a.name == "everything-from-the-vendor"
