"""Capturing a device's traffic: the mitmproxy addon, the proxy process, the flow store."""
