"""Test-only suite: scenarios that never start (setup error, skip tag), run by test_guard.py."""

import pytest
from pytest_bdd import scenarios

scenarios("guard.feature")


@pytest.fixture(autouse=True)
def device_unreachable(request):
    """Stands for a device fixture that fails in setup (an unreachable Appium endpoint)."""
    if "setup" in request.node.name:
        raise RuntimeError("Appium endpoint http://127.0.0.1:9/ refused the connection")
