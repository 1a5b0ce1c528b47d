"""The registry is what `expand` walks: a decoder registered there is asked, in its place, and
every registered decoder is planted in the planted corpus and undoes what it is planted for."""

from __future__ import annotations

import base64
import codecs
import gzip
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from plant import ENCODERS, http_flow
from test_detect_planted import BODY, CARRIERS, IDENTS, URL

from telltale.detect import Canary, Detector, sources
from telltale.detect.decoders import _registry
from telltale.detect.decoders._api import Budget, Child, View
from telltale.detect.matcher import Matcher
from telltale.detect.model import Limits
from telltale.detect.views import examine

TOKEN = "Zq7Xw2Pk9Lm4Rt8v"


@dataclass(frozen=True)
class Rot13:
    """A decoder no release has: ROT13 text after a `rot13:` tag."""

    name: str = "rot13"
    headerless: bool = False

    def applies(self, view: View) -> bool:
        return view.data.startswith(b"rot13:")

    def children(self, view: View, budget: Budget) -> list[Child] | None:
        return [Child(codecs.encode(view.data[6:].decode(), "rot13").encode(), "rot13", "rot13")]


def _found(flow) -> list[tuple[str, tuple[str, ...]]]:
    det = Detector.build([Canary("token", TOKEN)])  # a fresh one: no memory of parts that held nothing
    return [(f.location, f.chain) for f in det.scan_flow(flow)]


def _hidden() -> bytes:
    return b"rot13:" + codecs.encode(f"the token is {TOKEN}", "rot13").encode()


def test_a_registered_decoder_is_asked_and_its_step_is_in_the_chain(monkeypatch):
    flow = http_flow(body=_hidden())
    inside = http_flow(body=gzip.compress(_hidden()), headers={"content-encoding": "gzip"})
    assert _found(flow) == [] and _found(inside) == []
    with monkeypatch.context() as m:
        m.setattr(_registry, "DECODERS", (Rot13(),) + _registry.DECODERS)
        assert _found(flow) == [("request.body rot13", ("rot13",))]
        assert _found(inside) == [("request.body gzip > rot13", ("gzip", "rot13"))]
    assert _found(flow) == [] and _found(inside) == []  # unregistered: gone again


def test_the_registry_order_is_the_precedence(monkeypatch):
    flow = http_flow(body=_hidden())
    *before, leaves = _registry.DECODERS
    monkeypatch.setattr(_registry, "DECODERS", (*before, Rot13(), leaves))
    assert _found(flow) == [("request.body rot13", ("rot13",))]
    # after the leaves, which claim any view they reach, it is never asked
    monkeypatch.setattr(_registry, "DECODERS", (*before, leaves, Rot13()))
    assert _found(flow) == []


def test_an_empty_registry_decodes_nothing(monkeypatch):
    flow = http_flow(body=gzip.compress(f"the token is {TOKEN}".encode()))
    assert _found(flow) == [("request.body gzip", ("gzip",))]
    monkeypatch.setattr(_registry, "DECODERS", ())
    assert _found(flow) == []
    assert _found(http_flow(path=f"/c?t={TOKEN}")) == [("request.url", ())]  # as sent: still matched


def test_registered_decoders_have_the_protocol_and_unique_names():
    decoders = list(_registry.walk())
    names = [d.name for d in decoders]
    assert len(names) == len(set(names)), names
    for d in decoders:
        assert isinstance(d.name, str) and d.name and isinstance(d.headerless, bool)
        assert callable(d.applies) and callable(d.children)


@contextmanager
def _answers() -> Iterator[dict[str, list[bool]]]:
    """For each registered decoder, whether each of its answers yielded children (None is no
    answer), seen from outside: the registry binds its decoders' methods once."""
    codes = {type(d).children.__code__ for d in _registry.walk()}
    answers: dict[str, list[bool]] = {}

    def profile(frame, event, arg):
        if event == "return" and frame.f_code in codes and arg is not None:
            answers.setdefault(frame.f_locals["self"].name, []).append(bool(arg))

    sys.setprofile(profile)
    try:
        yield answers
    finally:
        sys.setprofile(None)


CARRIED = {"url", "cookies"}  # take apart what a carrier is (request.url, a Cookie header): no body holds it
NOTHING_BELOW = {"short"}  # claims data too short to hide a canary, and yields nothing


def test_every_registered_decoder_is_planted():
    planted = {p.decoder for p in ENCODERS.values() if p.decoder}
    combined = {d.name for d in _registry.walk() if getattr(d, "parts", ())}  # its parts are planted
    unplanted = [d.name for d in _registry.walk()
                 if d.name not in planted | combined | CARRIED | NOTHING_BELOW]
    assert unplanted == [], "plant these in tests/detect/plants/<family>.py"
    det = Detector.build([Canary("visited_url", URL), Canary("imei", "358240051111110", "identifier")])
    with _answers() as answers:
        for case in CARRIERS:
            det.scan_flow(case[1])
    assert [n for n in sorted(CARRIED) if not any(answers.get(n, ()))] == []
    for n in NOTHING_BELOW:
        assert answers.get(n) and not any(answers[n]), n  # claimed, with nothing below


@pytest.mark.parametrize("name", [n for n, p in ENCODERS.items() if p.decoder])
def test_each_planting_is_undone_by_the_decoder_it_names(name):
    plant = ENCODERS[name]
    assert plant.decoder in {d.name for d in _registry.walk()}
    det = Detector.build([Canary("visited_url", URL)])
    with _answers() as answers:
        found = det.scan_flow(http_flow(body=plant.encode(URL.encode())))
    assert found and any(answers.get(plant.decoder, ())), (name, sorted(answers))


def test_headerless_views_are_those_after_the_steps_the_guess_always_followed():
    """Of the steps these decoders make, the headerless decoders' views are exactly those whose
    last step is whole data (a blob, a stream, a MIME part): the guess's condition, unchanged."""
    whole = {"base64", "hex", "multipart", "url", "gzip", "deflate", "zstd", "br"}
    sliced = {"json", "form", "protobuf", "path", "query", "fragment", "cookie"}
    matcher = Matcher([Canary("visited_url", URL)])
    views: list[View] = []
    fragment = http_flow(path="/r#u=" + base64.b64encode(URL.encode()).decode())
    for flow in [c[1] for c in BODY + CARRIERS + IDENTS] + [fragment]:
        budget = Budget.of(Limits())
        for part in sources.sent_of_flow(flow).parts:
            examine(part, matcher.scan, budget, views)
    below = [v for v in views if v.chain and v.chain[-1] in whole | sliced]  # a later decoder's: its own
    assert {v.chain[-1] for v in below} == whole | sliced
    assert [(v.location, v.headerless) for v in below if v.headerless != (v.chain[-1] in whole)] == []
