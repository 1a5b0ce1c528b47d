"""Property: any value through any chain of encodings is found; any other value is not."""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from plant import ENCODERS, http_flow, raw_flow, ws_flow

from telltale.detect import Canary, Detector

# every planting of every registered decoder family (plain and upper leave no step to check)
ANY_BYTES = [n for n, p in ENCODERS.items() if p.steps and not p.text_only]
TEXT_ONLY = [n for n, p in ENCODERS.items() if p.steps and p.text_only]
MAGICLESS = [n for n, p in ENCODERS.items() if p.decoder == "headerless"]  # no magic bytes, no header

# Canaries are fresh tokens, possibly inside a URL or a phrase: a random core of 8+ characters
# (a value that compresses to a handful of bytes is no canary).
_core = st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=16) \
    .filter(lambda s: len(set(s)) >= 5)
_around = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/?=& ", max_size=16)
values = st.tuples(_around, _core, _around).map("".join).map(str.strip)
chains = st.lists(st.sampled_from(ANY_BYTES + TEXT_ONLY), min_size=1, max_size=4)
carriers = st.sampled_from(["body", "body-declared", "websocket", "tcp"])


def _through(value: bytes, chain: list[str]) -> bytes:
    magicless = False
    for bare in MAGICLESS:  # no magic: guessed with no header for a whole body only
        if bare in chain:
            chain = [c for c in chain if c != bare] + [bare]
    for step in chain:
        if step.startswith("base64_in_blob") and magicless:
            step = "base64"  # a stream with no magic, after other bytes, cannot be told from noise
        magicless = magicless or step in MAGICLESS
        if step in TEXT_ONLY:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                value = ENCODERS["base64"].encode(value)
        value = ENCODERS[step].encode(value)
    return value


def _carry(data: bytes, carrier: str, chain: list[str]):
    if carrier == "websocket":
        return ws_flow([b"hi", data])
    if carrier == "tcp":
        return raw_flow("tcp", [data])
    headers = {}
    declared = ENCODERS[chain[-1]].content_encoding
    if carrier == "body-declared" and declared:
        headers["content-encoding"] = declared
    return http_flow(body=data, headers=headers)


# Derandomized by default so the suite is repeatable; TELLTALE_HYPOTHESIS_EXAMPLES=N explores afresh.
_EXPLORE = os.environ.get("TELLTALE_HYPOTHESIS_EXAMPLES")
SETTINGS = settings(max_examples=int(_EXPLORE or 60), deadline=None, derandomize=not _EXPLORE,
                    suppress_health_check=[HealthCheck.too_slow], database=None)


@SETTINGS
@given(value=values, chain=chains, carrier=carriers)
def test_value_through_any_chain_is_found(value, chain, carrier):
    det = Detector.build([Canary("c", value)])
    flow = _carry(_through(value.encode(), chain), carrier, chain)
    found = det.scan_flow(flow)
    assert found, f"{value!r} through {chain} in {carrier}"
    assert {f.canary for f in found} == {"c"}


@SETTINGS
@given(value=values, other=values, chain=chains)
def test_other_value_through_the_same_chain_is_not_found(value, other, chain):
    assume(value.lower() not in other.lower())
    det = Detector.build([Canary("c", value)])
    assert det.scan_flow(_carry(_through(other.encode(), chain), "body", chain)) == []
