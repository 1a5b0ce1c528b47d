"""iPhones (XCUITest on a macOS host): known to the schema and the tags, with no driver yet.

An ios device's scenarios are broken at setup with that reason, and @ios scenarios are
skipped on every other device. A driver goes in `open_driver` (docs/extending.md).
"""

from __future__ import annotations

from telltale.platforms.driver import Platform

PLATFORM = Platform("ios", title="iOS", drain=180.0, tagged=True, appium_driver="xcuitest",
                    stereotype=(("platformName", "iOS"),))
