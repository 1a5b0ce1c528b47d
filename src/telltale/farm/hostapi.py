"""The channel between a run and a lab host: HTTP with a bearer token, JSON replies.

Every request must carry the token (compared in constant time), whatever the address the host
listens on; a device's window operations and files also name the run the host serves, so a
second run cannot close the first one's windows.

    GET  /status                                   the host, its run, its devices
    POST /runs/RUN                                 bind the host to RUN (409 for another run)
    POST /devices/D/windows/open?id=W              open window W on D's capture
    POST /devices/D/windows/close                  close it: span and the packet record's account
    POST /devices/D/ensure                         restart D's capture proxy if it died
    POST /devices/D/finish                         stop capturing: D's files are final
    GET  /devices/D/files                          D's files: name, size, SHA-256
    GET  /devices/D/files/NAME?start=S&end=E       bytes S..E of one of them
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from telltale.errors import NoVerdict, TelltaleError
from telltale.farm import files, token
from telltale.farm.host import Conflict, Host

RUN_HEADER = "X-Telltale-Run"
_DEVICE = re.compile(r"^/devices/([^/]+)/(windows/open|windows/close|ensure|finish|files)(?:/([^/]+))?$")


class Handler(BaseHTTPRequestHandler):
    server: HostServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args) -> None:  # the host's own log, not stderr noise
        self.server.log(f"{self.address_string()} {fmt % args}")

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        if not token.matches(self.headers.get("Authorization"), self.server.token):
            self.server.log(f"refused: no valid token from {self.address_string()}")
            return self._json(401, {"error": "a valid token is required"})
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        host = self.server.host
        try:
            if method == "GET" and url.path == "/status":
                return self._json(200, host.status())
            m = re.fullmatch(r"/runs/([^/]+)", url.path)
            if method == "POST" and m:
                host.claim(m.group(1))
                return self._json(200, {"run": host.run})
            m = _DEVICE.match(url.path)
            if not m:
                return self._json(404, {"error": f"no such operation: {method} {url.path}"})
            run = self.headers.get(RUN_HEADER)
            if host.run is None or run != host.run:
                raise Conflict(f"host {host.name} serves run {host.run}, not {run}")
            name, op, arg = m.groups()
            hd = host.device(name)
            if method == "GET" and op == "files" and arg is None:
                return self._json(200, {"files": host.file_list(name)})
            if method == "GET" and op == "files":
                path = host.file_path(name, arg)
                return self._bytes(files.read_range(path, int(q.get("start", 0)),
                                                    int(q.get("end", path.stat().st_size))))
            if method != "POST":
                return self._json(405, {"error": f"{op} needs POST"})
            if op == "windows/open":
                return self._json(200, hd.open_window(q["id"]))
            if op == "windows/close":
                return self._json(200, hd.close_window())
            if op == "ensure":
                return self._json(200, {"restarted": hd.ensure_running()})
            hd.finish()
            return self._json(200, {"finished": True})
        except Conflict as e:
            return self._json(409, {"error": str(e)})
        except KeyError as e:
            return self._json(404, {"error": str(e.args[0] if e.args else e)})
        except NoVerdict as e:  # the capture cannot vouch: the run's scenario is broken with this
            return self._json(503, {"error": str(e), "kind": "capture"})
        except Exception as e:  # noqa: BLE001 - one request's fault is its answer, the host serves on
            self.server.log(traceback.format_exc())
            return self._json(500, {"error": f"{type(e).__name__}: {e}"})

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _bytes(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class HostServer(ThreadingHTTPServer):
    """The host's service on its address; `serve()` in a thread, `close()` to stop."""

    daemon_threads = True

    def __init__(self, host: Host, address: tuple[str, int], secret: str, log=None,
                 tls: tuple[str, str] | None = None) -> None:
        if len(secret) < token.MIN_LENGTH:
            raise TelltaleError("the host's token is too short")
        super().__init__(address, Handler)
        if tls is not None:  # (certificate, key) files: the channel is https, the token never in clear
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(*tls)
            self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.host, self.token = host, secret
        self.log = log or (lambda msg: None)
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="telltale-host", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
