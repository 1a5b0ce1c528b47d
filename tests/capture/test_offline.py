"""The offline internet answers deterministically; search URLs get a results page."""

from telltale.capture import offline


def test_same_request_same_bytes():
    assert offline.answer("GET", "https://a.example/x") == offline.answer("GET", "https://a.example/x")


def test_search_url_gets_results_for_the_term():
    status, headers, body = offline.answer("GET", "https://s.example/search?q=zebra+blue%21")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"Results for zebra blue!" in body


def test_page_has_a_search_form_and_names_the_page():
    _, _, body = offline.answer("GET", "https://news.example/a/b")
    assert b'name="q"' in body and b"news.example/a/b" in body


def test_favicon_and_posts_are_answered_without_a_page():
    assert offline.answer("GET", "https://a.example/favicon.ico")[0] == 404
    assert offline.answer("POST", "https://a.example/collect")[0] == 204


def test_page_escapes_what_the_url_carries():
    _, _, body = offline.answer("GET", "https://a.example/search?q=<script>")
    assert b"<script>" not in body.split(b"<body>")[1]


def test_a_cors_preflight_is_allowed_so_the_request_itself_is_sent():
    asked = {"origin": "https://site.example", "access-control-request-method": "POST",
             "access-control-request-headers": "authorization,content-type"}
    status, headers, _ = offline.answer("OPTIONS", "https://collect.example.org/c", asked)
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://site.example"
    assert headers["access-control-allow-methods"] == "POST"
    assert headers["access-control-allow-headers"] == "authorization,content-type"
    assert headers["access-control-allow-credentials"] == "true"
    # a same-origin or headerless request gets no CORS headers at all
    assert not any(k.startswith("access-control") for k in offline.answer("POST", "https://a.example/")[1])
