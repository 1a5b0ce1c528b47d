"""Evidence is byte-exact and safe: a window's HAR never inflates a compressed body."""

import base64
import gzip
import io
import json

from mitmproxy import http
from mitmproxy.test import tflow

from telltale.evidence import findings_table, window_har


def _bomb(expanded: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        chunk = b"\0" * (1 << 20)
        for _ in range(expanded >> 20):
            gz.write(chunk)
    return buf.getvalue()


def test_har_keeps_a_gzip_bomb_as_sent_and_never_inflates_it():
    bomb = _bomb(256 << 20)  # 256 MiB of zeros in about 250 KB
    f = tflow.tflow(resp=True)
    f.request.method = "POST"
    f.request.headers["content-encoding"] = "gzip"
    f.request.raw_content = bomb
    f.response.headers["content-encoding"] = "gzip"
    f.response.raw_content = bomb
    har_bytes = window_har([f])
    assert len(har_bytes) < 4 * len(bomb), "the HAR must not hold the inflated body"
    (entry,) = json.loads(har_bytes)["log"]["entries"]
    post = entry["request"]["postData"]
    assert post["_encoding"] == "base64" and base64.b64decode(post["text"]) == bomb
    assert base64.b64decode(entry["response"]["content"]["text"]) == bomb
    names = {h["name"].lower() for h in entry["request"]["headers"]}
    assert "x-telltale-content-encoding" in names and "content-encoding" not in names
    assert f.request.headers["content-encoding"] == "gzip", "the captured flow is not changed"


def test_plain_form_body_stays_readable_text():
    f = tflow.tflow(resp=True)
    f.request = http.Request.make("POST", "https://a.example/f", b"q=zebra&x=1",
                                  {"content-type": "application/x-www-form-urlencoded"})
    (entry,) = json.loads(window_har([f]))["log"]["entries"]
    assert entry["request"]["postData"]["text"] == "q=zebra&x=1"
    assert "_encoding" not in entry["request"]["postData"]


def test_findings_table_lists_each_finding():
    rows = [{"canary": "visited_url", "host": "t.example", "server_ip": "47.1.2.3",
             "location": "request.body json $.u > base64", "flow": "f1", "excerpt": "[[x]]"}]
    table = findings_table(rows)
    assert "visited_url" in table and "47.1.2.3" in table and "json $.u > base64" in table
    assert findings_table([]) == "no findings\n"
