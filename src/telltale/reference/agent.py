"""A firmware-level telemetry agent, outside the web pages (the leaky reference build).

It finds each browser the device starts (chromedriver starts Chromium with
``--remote-debugging-port=0`` and writes the port to ``DevToolsActivePort`` in
the profile folder), attaches to the browser target, discovers every page,
incognito ones too, and sends through the device's proxy:

- each visited URL and each search query at once, to the "pages" host;
- a device identifier with app-usage events (tabs opened, pages switched), on a
  timer, to the "usage" host.

Payloads are JSON, then encoded as configured (``base64``, ``gzip+base64``,
``json``); identifiers plain or hashed (``sha256``, ``md5``). Run as
``python -m telltale.reference.agent --config FILE``.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import itertools
import json
import logging
import ssl
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import websocket

log = logging.getLogger("telltale.agent")
SEARCH_PARAMS = ("q", "query", "p", "text", "wd")


@dataclass(frozen=True)
class AgentConfig:
    watch: str                      # folder where browsers' profile folders appear
    proxy: str                      # the device's proxy, e.g. http://127.0.0.1:8080
    ca_cert: str                    # the CA the device trusts (the capture CA)
    pages_url: str = "https://tracking.intl.miui.com/track/v4/pages"
    usage_url: str = "https://sa.api.intl.miui.com/sa?project=browser"
    encoding: str = "base64"        # base64 | gzip+base64 | json
    id_hash: str = "none"           # none | sha256 | md5
    identifiers: dict[str, str] = field(default_factory=dict)
    interval: float = 1.0           # seconds between app-usage batches


def encode(payload: dict, how: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    if how == "json":
        return raw, {"content-type": "application/json"}
    if how == "base64":
        return base64.b64encode(raw), {"content-type": "text/plain"}
    if how == "gzip+base64":
        return base64.b64encode(gzip.compress(raw)), {"content-type": "text/plain"}
    raise ValueError(f"unknown encoding {how!r}")


def hashed(value: str, how: str) -> str:
    return value if how == "none" else hashlib.new(how, value.encode()).hexdigest()


def search_query(url: str) -> str | None:
    q = parse_qs(urlsplit(url).query)
    return next((q[p][0] for p in SEARCH_PARAMS if p in q), None)


class Agent:
    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        ctx = ssl.create_default_context(cafile=cfg.ca_cert)
        self.http = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": cfg.proxy, "https": cfg.proxy}),
            urllib.request.HTTPSHandler(context=ctx))
        self.usage: list[dict] = []
        self.lock = threading.Lock()
        self.seen_browsers: set[str] = set()
        self.seq = itertools.count(1)

    def device(self) -> dict:
        return {k: hashed(v, self.cfg.id_hash) for k, v in self.cfg.identifiers.items()}

    def post(self, url: str, payload: dict) -> None:
        body, headers = encode(payload, self.cfg.encoding)
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self.http.open(req, timeout=10) as r:
                r.read()
        except OSError as e:  # a real agent retries later; this one just notes it
            log.warning("post to %s failed: %s", url, e)

    def usage_event(self, kind: str, **fields) -> None:
        with self.lock:
            self.usage.append({"type": kind, "t": round(time.time(), 3), **fields})

    def page(self, url: str, incognito: bool) -> None:
        payload = {"event": "page_view", "seq": next(self.seq), "url": url,
                   "incognito": incognito, "device": self.device()}
        query = search_query(url)
        if query is not None:
            payload["search"] = query
        self.post(self.cfg.pages_url, payload)

    def flush_usage(self) -> None:
        with self.lock:
            events, self.usage = self.usage, []
        if events:
            self.post(self.cfg.usage_url, {"event": "app_usage", "device": self.device(),
                                           "events": events})

    def watch_browser(self, port_file: Path) -> None:
        port, path = port_file.read_text().split()[:2]
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=10,
                                         suppress_origin=True)
        ws.settimeout(None)
        ids = itertools.count(1)
        ws.send(json.dumps({"id": next(ids), "method": "Target.setDiscoverTargets",
                            "params": {"discover": True}}))
        default_ctx: str | None = None
        ws.send(json.dumps({"id": 999_999, "method": "Target.getBrowserContexts"}))
        urls: dict[str, str] = {}
        while True:
            try:
                msg = json.loads(ws.recv())
            except (websocket.WebSocketException, OSError, ValueError):
                return  # the browser went away
            if msg.get("id") == 999_999:
                default_ctx = (msg.get("result") or {}).get("defaultBrowserContextId")
            method = msg.get("method", "")
            info = (msg.get("params") or {}).get("targetInfo") or {}
            if info.get("type") != "page":
                continue
            tid, url = info.get("targetId"), info.get("url", "")
            if method == "Target.targetCreated":
                self.usage_event("tab_opened", tab=tid[:8])
            if method in ("Target.targetCreated", "Target.targetInfoChanged") \
                    and url.startswith(("http://", "https://")) and urls.get(tid) != url:
                urls[tid] = url
                incognito = bool(default_ctx) and info.get("browserContextId") != default_ctx
                self.usage_event("page_switched", tab=tid[:8], title=info.get("title", ""), url=url)
                threading.Thread(target=self.page, args=(url, incognito), daemon=True).start()

    def run(self) -> None:
        threading.Thread(target=self._timer, daemon=True).start()
        watch = Path(self.cfg.watch)
        while True:
            for port_file in watch.glob("*/DevToolsActivePort"):
                key = str(port_file.parent)
                if key in self.seen_browsers:
                    continue
                try:
                    port_file.read_text().split()[1]
                except (OSError, IndexError):
                    continue  # being written
                self.seen_browsers.add(key)
                threading.Thread(target=self._watch_safely, args=(port_file,), daemon=True).start()
            time.sleep(0.05)

    def _watch_safely(self, port_file: Path) -> None:
        try:
            self.watch_browser(port_file)
        except Exception as e:  # noqa: BLE001 - one browser's end must not stop the agent
            log.warning("browser at %s: %s", port_file, e)

    def _timer(self) -> None:
        while True:
            time.sleep(self.cfg.interval)
            self.flush_usage()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="leaky reference telemetry agent")
    ap.add_argument("--config", required=True, help="JSON file with the AgentConfig fields")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s agent %(message)s")
    cfg = AgentConfig(**json.loads(Path(args.config).read_text()))
    Agent(cfg).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
