"""Finding every canary a device sends, however it is encoded.

`Detector.build(canaries)` compiles every encoded form of a canary set once;
`scan_flow` / `scan_flows` / `scan_files` then decode each flow the device
sent (compression, JSON, forms, multipart, protobuf, base64, hex, URL
encoding, nested) with capped decoders and match each view in one pass.
"""

from telltale.detect.model import Canary, CanaryError, Finding, Limits, ScanResult
from telltale.detect.scan import Detector, scan_files, scan_flows

__all__ = ["Canary", "CanaryError", "Detector", "Finding", "Limits", "ScanResult", "scan_files", "scan_flows"]
