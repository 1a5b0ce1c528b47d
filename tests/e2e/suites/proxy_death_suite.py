"""Test-only suite: kills the real capture proxy mid-scenario (run by test_proxy_death.py)."""

import os
import signal

from pytest_bdd import scenarios, when

scenarios("proxy_death.feature")


@when("the capture proxy is killed")
def kill_capture_proxy(capture_proxy):
    os.kill(capture_proxy.proc.pid, signal.SIGKILL)
    capture_proxy.proc.wait(10)
