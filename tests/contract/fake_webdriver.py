"""CONTRACT TEST DOUBLE: a WebDriver endpoint that stands in for an Appium server driving a phone.

No Android phone exists on the development machines, so this server answers as
Appium's UiAutomator2 driver does (W3C WebDriver JSON), records every request,
and can be told that an element does not exist. It never stands in for a part
that can run here: Chromium devices use the real Appium server.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class FakeWebDriver:
    def __init__(self, missing: set[str] | None = None) -> None:
        self.requests: list[dict] = []
        self.missing = missing or set()
        self.ids = itertools.count(1)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(n) or b"null")
                outer.requests.append({"method": self.command, "path": self.path, "body": body})
                status, value = outer.respond(self.command, self.path, body)
                data = json.dumps({"value": value}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def respond(self, method: str, path: str, body):
        if method == "POST" and path == "/session":
            caps = body["capabilities"]["alwaysMatch"]
            return 200, {"sessionId": "s1", "capabilities": {**caps, "platformVersion": "14"}}
        if method == "POST" and path.endswith("/element"):
            if body["value"] in self.missing:
                return 404, {"error": "no such element", "message": "An element could not be located "
                             "on the page using the given search parameters.", "stacktrace": ""}
            return 200, {ELEMENT: f"e{next(self.ids)}"}
        return 200, None

    def close(self) -> None:
        self.server.shutdown()
