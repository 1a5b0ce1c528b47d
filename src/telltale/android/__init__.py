"""Android devices: UiAutomator2 capabilities, app profiles as data, and the apps they drive.

No phone exists on the development machines: what is here is proven by a
contract test against a scripted WebDriver exchange (tests/contract/), and by
nothing else until a lab runs it on a device.
"""
