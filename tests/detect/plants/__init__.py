"""Plantings: for each family of registered decoders (`telltale.detect.decoders`), the ways to hide a
value in a body that its decoders must undo, in `<family>.py` as `PLANTS`.

`tests/detect/plant.py` gathers them for the families the registry holds, so the planted,
property, flow-file and HAR tests take a new decoder's plantings up by themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Plant:
    """One way to hide a value in a body, and what the detector must report for it."""

    encode: Callable[[bytes], bytes]
    steps: tuple[str, ...]  # the step names the detector should report, in order
    decoder: str  # the name of the registered decoder that undoes it ("": the matcher's variants find it)
    text_only: bool = False  # it takes text (it makes a JSON document, a form), not any bytes
    content_encoding: str = ""  # its name in a content-encoding header, if it has one
