"""What a device platform provides: the driver the steps drive, and its entry in the registry.

Kept free of Appium and of the schema (types only under TYPE_CHECKING): devices.yaml is
validated against the registry, and a driver is imported only when a device of its platform
runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from telltale.browser import Visit
    from telltale.capture.proxy import CaptureProxy
    from telltale.inventory import Device


@runtime_checkable
class Driver(Protocol):
    """A device's browser as the steps and fixtures use it: one Appium session, reused across the
    device's scenarios. An action the platform cannot drive raises ActionFailed with the reason
    (the scenario is broken, never passed)."""

    def ensure(self, incognito: bool) -> None:
        """A live session in the asked browsing mode: started, or reset from the last scenario."""
        ...

    def visit(self, url: str) -> Visit:
        """Load `url`; what it returns is the window's positive control."""
        ...

    def search(self, engine_url: str, term: str, box: str = "q") -> Visit:
        """Type `term` into a search page's box and submit, as a person would."""
        ...

    def open_in_new_tab(self, url: str) -> Visit: ...

    def switch_to_tab(self, index: int) -> None: ...

    def screenshot(self) -> bytes | None:
        """A PNG for the evidence, or None when the session cannot give one."""
        ...

    def nudges(self) -> list[tuple[str, Callable[[], object]]]:
        """What a user does that makes telemetry leave, run before the drain."""
        ...

    def quit(self) -> None:
        """End the session (one already gone included)."""
        ...


# (device, Appium URL, the device's capture proxy, on_start(build)) -> a driver, session not started
Opener = Callable[["Device", str, "CaptureProxy", Callable[[str], None] | None], Driver]


@dataclass(frozen=True)
class Platform:
    """One platform as the schema, the fixtures, lint and the report know it."""

    name: str  # devices.yaml `platform:` and, when tagged, the Gherkin tag
    title: str  # as people write it, for the tag's help text
    drain: float  # seconds watched after the device's last scenario unless devices.yaml says
    # Runs on this machine: can be sealed in a namespace (its default boundary) and enters the
    # capture by loopback.
    embedded: bool = False
    # Scenarios tagged @<name> need a device of this platform and are skipped on others;
    # untagged scenarios run on every device.
    tagged: bool = False
    open_driver: Opener | None = None  # None: no driver in this version
    appium_driver: str = ""  # the Appium driver a server for this platform loads (a lab host's)
    # The W3C capabilities a Grid relay node's slot offers besides the device's name: what the
    # hub matches a session request of this platform on.
    stereotype: tuple[tuple[str, str], ...] = ()
