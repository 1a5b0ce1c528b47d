"""Test-only suite: credentials are sent, then the scenario waits to be interrupted (run by
test_interrupt.py, which stops or kills the run while it waits)."""

import os
import time
from pathlib import Path

from pytest_bdd import scenarios, when

from redaction_suite import post

scenarios("interrupt.feature")


@when("the page posts credentials and the visited URL to a collector")
def post_credentials(browser, capture_window, canaries):
    post(browser, canaries.url)


@when("the scenario is held open until the run is stopped")
def held_open(capture_window):
    capture_window.traffic()  # the credentials are in the capture file now
    Path(os.environ["TELLTALE_TEST_MARKER"]).write_text("holding")
    time.sleep(300)
