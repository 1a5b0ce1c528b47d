"""Scenarios are sent to xdist workers by device: the device is read off the node id."""

import pytest

from fixtures.device import device_scope

NAMES = ("local-chromium", "local-chromium-leaky", "farm-a")


@pytest.mark.parametrize(("nodeid", "scope"), [
    ("steps/test_requirements.py::test_x[local-chromium]", "local-chromium"),
    ("steps/test_requirements.py::test_x[local-chromium-leaky]", "local-chromium-leaky"),
    ("steps/test_requirements.py::test_s[local-chromium-leaky-https://find.example.org/-normal]",
     "local-chromium-leaky"),
    ("steps/test_requirements.py::test_s[local-chromium-https://find.example.org/-normal]", "local-chromium"),
    ("steps/test_requirements.py::test_x[farm-b]", "steps/test_requirements.py::test_x[farm-b]"),
    ("tests/unit/test_a.py::test_plain", "tests/unit/test_a.py::test_plain"),
])
def test_the_longest_selected_device_name_that_fits_is_the_scope(nodeid, scope):
    assert device_scope(nodeid, NAMES) == scope
