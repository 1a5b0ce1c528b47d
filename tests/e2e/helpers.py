"""Running the suite as a user would: a child pytest (or `telltale run`) and its Allure results,
and what the features say the results must be (scenario names, tags, steps)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fixtures.bdd import parse_features, python_test_name
from telltale import results as allure_results
from telltale.browser import QUIET_ARGS
from telltale.capture import store
from telltale.capture.proxy import CaptureProxy
from telltale.platforms import PLATFORMS as REGISTRY
from telltale.results import Result

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ROOT / "features"
# The platforms a scenario can be tagged for (@android, @ios): skipped on any other device.
PLATFORMS = tuple(name for name, p in REGISTRY.items() if p.tagged)


def run_suite(module: Path, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    results = run_dir / "allure-results"
    results.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", str(module), "-p", "no:cacheprovider", "-q",
           f"--rootdir={ROOT}", f"--alluredir={results}", f"--telltale-run-dir={run_dir}", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def all_results(run_dir: Path) -> list[Result]:
    """Every Allure result of a run folder, read as Telltale reads them."""
    return allure_results.read_results(run_dir / "allure-results")


def results(run_dir: Path) -> dict[str, Result]:
    """Allure results by scenario name (one a name: a run on one device)."""
    out: dict[str, Result] = {}
    for r in all_results(run_dir):
        assert r.name not in out, f"two results for {r.name}"
        out[r.name or "?"] = r
    return out


def labels(result: Result, name: str) -> list[str]:
    return list(result.labels.get(name, ()))


@dataclass(frozen=True)
class Scenario:
    """A scenario as its result will name it (an outline's Examples values filled in)."""

    name: str
    feature: Path
    tags: frozenset[str]  # its own, its feature's and its Examples' tags
    steps: tuple[str, ...]

    def tagged(self, name: str) -> list[str]:
        """The values of its @name:value tags, sorted."""
        return sorted(t.partition(":")[2] for t in self.tags if t.startswith(f"{name}:"))

    @property
    def platform(self) -> str | None:
        return next((p for p in PLATFORMS if p in self.tags), None)

    def skipped_on(self, platform: str) -> bool:
        """Reported skipped on a device of this platform: tagged for another one, or @skip."""
        return "skip" in self.tags or self.platform not in (None, platform)

    def selected_by(self, *terms: str) -> bool:
        """Whether `pytest -k "a or b"` with these terms selects it (by its test function's name)."""
        test = python_test_name(self.name).lower()
        return any(t.lower() in test for t in terms)


def scenarios(path: Path = FEATURES) -> list[Scenario]:
    """Every scenario of the features under `path` (or of one feature file), by pytest-bdd's parser."""
    out = []
    for feature in parse_features(str(path)):
        for tmpl in feature.scenarios.values():
            rule = tmpl.rule.tags if tmpl.rule else set()
            base = frozenset(tmpl.tags | feature.tags | rule)
            variants = [(ex.tags, ctx) for ex in tmpl.examples for ctx in ex.as_contexts()]
            for tags, ctx in variants or [(set(), {})]:
                sc = tmpl.render(ctx)
                out.append(Scenario(sc.name, Path(feature.filename), base | set(tags),
                                    tuple(step.name for step in sc.steps)))
    names = [s.name for s in out]
    assert len(names) == len(set(names)), f"scenario names repeat: {sorted(names)}"
    return out


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
