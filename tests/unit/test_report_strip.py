"""The report must not phone home: Allure's analytics snippet is cut out, or generation fails."""

import pytest

from telltale.errors import TelltaleError
from telltale.report import strip_analytics

ALLURE_HEAD = """<head><script>var x = 1;</script>
    <script async src="https://www.googletagmanager.com/gtag/js?id=G-LNDJ3J7WT0"></script>
    <script>
        window.dataLayer = window.dataLayer || [];
        function gtag(){dataLayer.push(arguments);}
        gtag('js', new Date());
        gtag('config', 'G-LNDJ3J7WT0', {"report": "awesome"});
    </script>
</head><body>report</body>"""


def test_snippet_is_removed_and_the_rest_kept():
    out = strip_analytics(ALLURE_HEAD)
    assert "googletagmanager" not in out and "gtag(" not in out and "dataLayer" not in out
    assert "<script>var x = 1;</script>" in out and "<body>report</body>" in out


def test_an_unknown_form_of_the_snippet_fails_loudly():
    with pytest.raises(TelltaleError, match="googletagmanager"):
        strip_analytics('<img src="https://www.googletagmanager.com/ns.html?id=1">')
