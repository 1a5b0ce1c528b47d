"""Running the suite as a user would: a child pytest (or `telltale run`) and its Allure results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from telltale.browser import QUIET_ARGS
from telltale.capture import store
from telltale.capture.proxy import CaptureProxy

ROOT = Path(__file__).resolve().parents[2]


def run_suite(module: Path, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    results = run_dir / "allure-results"
    results.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", str(module), "-p", "no:cacheprovider", "-q",
           f"--rootdir={ROOT}", f"--alluredir={results}", f"--telltale-run-dir={run_dir}", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def results(run_dir: Path) -> dict[str, dict]:
    """Allure results by scenario name."""
    out = {}
    for f in (run_dir / "allure-results").glob("*-result.json"):
        r = json.loads(f.read_text())
        assert r["name"] not in out, f"two results for {r['name']}"
        out[r["name"]] = r
    return out


def labels(result: dict, name: str) -> list[str]:
    return [lab["value"] for lab in result.get("labels", []) if lab["name"] == name]


# Chromium's own housekeeping (update checks, the account list, network time), not caused by
# any page: such requests carry no fetch metadata or Sec-Fetch-Site "none", while whatever
# a page loads says where it came from (cross-site, same-origin...).
BROWSER_OWN = ("update.googleapis.com/service/update2", "clients2.google.com/time/",
               "accounts.google.com/ListAccounts")


def open_in_chromium(url: str, ready, tmp_path: Path) -> tuple[str, list]:
    """Open a page in headless Chromium whose only way out is a capture proxy; (DOM, flows)."""
    proxy = CaptureProxy("viewer", tmp_path / "viewer", ready.mitmproxy_conf)
    proxy.start()
    try:
        proxy.open_window("open")
        dom = subprocess.run(
            ["/usr/bin/chromium", *QUIET_ARGS, f"--user-data-dir={tmp_path / 'profile'}",
             f"--proxy-server={proxy.url}", "--proxy-bypass-list=<-loopback>",
             "--virtual-time-budget=15000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "HOME": str(ready.browser_home)})  # trusts the capture CA
        span = proxy.close_window()
    finally:
        proxy.stop()
    assert span.tls_failures == ()
    return dom.stdout, list(store.read_flows(span.capture))


def page_requests(flows) -> list[str]:
    """URLs a page caused (not the browser's own housekeeping)."""
    out = []
    for f in flows:
        url = f.request.pretty_url
        own = any(marker in url for marker in BROWSER_OWN)
        if not own or f.request.headers.get("sec-fetch-site", "none") != "none":
            out.append(url)
    return out
