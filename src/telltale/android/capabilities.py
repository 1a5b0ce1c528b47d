"""Appium capabilities for Android phones (UiAutomator2)."""

from __future__ import annotations

from telltale.inventory import Device


def uiautomator2(device: Device) -> dict:
    """Defaults for an Android phone; devices.yaml `capabilities` override (udid, platformVersion...)."""
    caps = {
        "platformName": "Android",
        "appium:automationName": "UiAutomator2",
        # Keep the device's state and apps: the firmware under test is what it is.
        "appium:noReset": True,
        "appium:autoGrantPermissions": True,
        "appium:newCommandTimeout": 600,
        "appium:disableWindowAnimation": True,
    }
    caps.update(device.capabilities)
    return caps

