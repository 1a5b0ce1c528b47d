"""Decoders: every way the detector looks below a view, one module per family.

Each decoder implements `Decoder` (`_api.py`); `_registry.DECODERS` orders
them, and `telltale.detect.views.expand` asks them in that order. The capped
decoding functions themselves (gunzip, b64decode, form_fields...) live beside
the decoder that uses them; the ones used outside the detector are named here.
"""

from telltale.detect.decoders._api import All, Budget, Child, Decoded, Decoder, View, looks_text
from telltale.detect.decoders.compression import DECOMPRESSORS, sniff_compression
from telltale.detect.decoders.structure import FORM
from telltale.detect.decoders.text import may_hide, urldecode

__all__ = ["DECOMPRESSORS", "FORM", "All", "Budget", "Child", "Decoded", "Decoder", "View", "looks_text",
           "may_hide", "sniff_compression", "urldecode"]
