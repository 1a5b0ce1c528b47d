"""Finding every canary a device sends, however it is encoded.

`Detector.build(canaries)` compiles every encoded form of a canary set once;
`scan_flow` / `scan_flows` / `scan_files` then decode each flow the device
sent (compression, JSON, forms, multipart, protobuf, base64, hex, URL
encoding, nested) with capped decoders and match each view in one pass.
`compare_runs` (`differential.compare`) finds what no decoder can read: the bytes
that move with the canary across three runs of the same actions.
"""

from telltale.detect.differential import Differential, Moved
from telltale.detect.differential import compare as compare_runs
from telltale.detect.model import Canary, CanaryError, Finding, Limits, ScanResult
from telltale.detect.scan import Detector, scan_files, scan_flows

__all__ = ["Canary", "CanaryError", "Detector", "Differential", "Finding", "Limits", "Moved", "ScanResult",
           "compare_runs", "scan_files", "scan_flows"]
