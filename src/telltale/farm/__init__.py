"""Past one machine: a Selenium Grid 4 hub routes each device's WebDriver session to the lab host
the device is attached to, and that host's `telltale host` owns the device's capture."""
