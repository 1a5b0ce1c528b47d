"""Telltale: privacy-compliance tests for phone firmware.

The engine: devices, capture, detection and reporting. It knows nothing of
pytest-bdd; the Gherkin suite (steps/, fixtures/) calls into it.
"""

__version__ = "0.1.0"
