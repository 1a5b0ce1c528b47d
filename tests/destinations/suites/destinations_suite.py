"""Test-only suite: the destination steps on a real capture proxy, no browser (run by test_steps.py)."""

from pathlib import Path

import pytest
from pytest_bdd import parsers, scenarios, when

from steps.destinations import *  # noqa: F403 - the step vocabulary under test, until the plugin loads it
from telltale.window import Window
from tests.destinations.clients import pinned_connect, post

scenarios("destinations.feature")


@pytest.fixture
def destination_policy_file() -> Path:
    return Path(__file__).with_name("policy.yaml")


@pytest.fixture
def capture_window(request, capture_proxy):
    """The plugin's window without the browser: the clients below stand for the device."""
    capture_proxy.ensure_running()
    window = Window(capture_proxy, f"w-{request.node.name[:40]}")
    capture_proxy.open_window(window.id)
    return window


@when(parsers.parse('a client that pins its certificates connects to "{host}"'))
def pinning_client(capture_window, capture_proxy, host):
    assert pinned_connect(capture_proxy.port, host) != "accepted"


@when(parsers.parse('the device posts to "{url}"'))
def device_posts(capture_window, capture_proxy, telltale_run, url):
    post(capture_proxy.url, url, telltale_run.layout.ca_cert)
