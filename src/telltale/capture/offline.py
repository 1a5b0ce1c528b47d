"""The offline internet: deterministic answers for every request.

In a lab or CI with no upstream network, the capture proxy answers each request
itself. Pages are small and stable (no clocks, no randomness) so two runs of
the same scenario send the same bytes. Every page carries a search form, so
any host can play a search engine; a search URL gets a results page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

SEARCH_PARAMS = ("q", "query", "p", "text", "wd", "search")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<h1>{title}</h1>
<p id="telltale-offline">Answered by the Telltale capture proxy (offline upstream): {where}</p>
<form id="search" action="/search" method="get">
<input id="q" name="q" type="search" aria-label="Search">
<button id="go" type="submit">Search</button>
</form>
{extra}
</body></html>
"""


def search_terms(url: str) -> str | None:
    """The search term a URL carries, if it looks like a search request."""
    parts = urlsplit(url)
    if "search" not in parts.path.lower() and not parts.query:
        return None
    query = parse_qs(parts.query, keep_blank_values=True)
    for name in SEARCH_PARAMS:
        if name in query:
            return query[name][0]
    return None


def cors(request_headers: Mapping[str, str]) -> dict[str, str]:
    """What a cooperating server says to a cross-origin request: yes. A tracker accepts what a page
    sends it; an offline answer that refused a CORS preflight would stop the browser from sending
    the very request (its body, its credentials) the lab is there to see."""
    origin = request_headers.get("origin")
    if not origin:
        return {}
    out = {"access-control-allow-origin": origin, "access-control-allow-credentials": "true",
           "vary": "Origin"}
    if "access-control-request-method" in request_headers:
        out["access-control-allow-methods"] = request_headers["access-control-request-method"]
        asked = request_headers.get("access-control-request-headers")
        if asked:
            out["access-control-allow-headers"] = asked
        out["access-control-max-age"] = "0"
    return out


def answer(method: str, url: str, request_headers: Mapping[str, str] | None = None
           ) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body the offline proxy answers `method url` with."""
    parts = urlsplit(url)
    allow = cors(request_headers or {})
    headers = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store", **allow}
    if parts.path.endswith("/favicon.ico"):
        return 404, {"content-type": "text/plain", "cache-control": "no-store"}, b""
    if method not in ("GET", "HEAD"):
        return 204, {"cache-control": "no-store", **allow}, b""
    where = html.escape(f"{parts.netloc}{parts.path}")
    term = search_terms(url)
    if term is not None:
        title = f"Results for {term}"
        extra = "<ol>" + "".join(
            f'<li><a href="/result/{i}">Result {i} for {html.escape(term)}</a></li>' for i in (1, 2, 3)
        ) + "</ol>"
    else:
        title, extra = parts.netloc or "offline", ""
    body = _PAGE.format(title=html.escape(title), where=where, extra=extra)
    return 200, headers, body.encode()
