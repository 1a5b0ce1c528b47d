"""App profiles as data (profiles.yaml beside this file, or a lab's own file), validated."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from telltale import yamlconfig
from telltale.errors import ConfigError

PROFILES = Path(__file__).with_name("profiles.yaml")
Strategy = Literal["id", "accessibility id", "-android uiautomator", "xpath"]


class Selector(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy
    value: str


class AppProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    package: str
    activity: str
    versions: str = ""
    selectors: dict[str, Selector]

    def selector(self, name: str) -> Selector:
        try:
            return self.selectors[name]
        except KeyError:
            raise ConfigError(f"app profile {self.name}: no selector {name!r} "
                              f"(has {', '.join(sorted(self.selectors))})") from None


class Profiles(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system_browser: tuple[AppProfile, ...] = ()
    file_manager: tuple[AppProfile, ...] = ()
    launcher: tuple[AppProfile, ...] = ()

    def find(self, role: str, package: str) -> AppProfile:
        for p in getattr(self, role):
            if p.package == package:
                return p
        known = ", ".join(p.package for p in getattr(self, role)) or "none"
        raise ConfigError(f"no {role} profile for package {package} (profiles for: {known})")


def load(path: Path = PROFILES) -> Profiles:
    """Read strictly, as devices.yaml is: an error names the file, the line and the field."""
    data, positions = yamlconfig.compose(yamlconfig.read_text(path), str(path))
    return yamlconfig.validate(Profiles, data, str(path), positions)
