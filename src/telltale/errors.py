"""Errors that name the place where something went wrong.

Every error a user can cause (a bad devices.yaml, a damaged capture file) says
which file and where, in one line, so it can be fixed without a debugger.
"""

from __future__ import annotations


class TelltaleError(Exception):
    """Base of Telltale's own errors: a message fit to show a user as is."""


class ConfigError(TelltaleError):
    """devices.yaml (or another config file) is malformed."""


class CaptureFileError(TelltaleError):
    """A capture file, or one record of it, cannot be read."""

    def __init__(self, path: str, where: str, message: str):
        self.path, self.where, self.message = path, where, message
        super().__init__(f"{path}: {where}: {message}")


class SetupError(TelltaleError):
    """The machine lacks something the run needs; the message says what to do."""


class CaptureBroken(TelltaleError):
    """The capture cannot vouch for a scenario window: its verdict is broken, never passed."""
