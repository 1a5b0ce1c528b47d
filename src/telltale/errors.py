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


class NoVerdict(TelltaleError):
    """The lab cannot judge this scenario: its result is broken, never passed, and the message
    says why. The kinds below say where the verdict was lost."""


class CaptureBroken(NoVerdict):
    """The capture cannot vouch for a scenario window (proxy down, positive control missing,
    traffic left unexamined, the boundary not proven)."""


class ActionFailed(NoVerdict):
    """The device could not perform the action the scenario needs (the platform does not drive
    it yet, or the driver failed): nothing was caused, so nothing can be judged."""


class PolicyCannotJudge(NoVerdict):
    """policy.yaml cannot judge what the step asks (it is malformed, or lacks the section)."""
