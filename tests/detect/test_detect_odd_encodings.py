"""The odd encodings real SDKs use: text read backwards, binary as a JSON string's code points, base32,
base85 (Adobe, b85, Z85), LZ-string. Each leak is found with its chain; the same encoding of another
value, and the near misses that look like it (words, numbers, identifiers, random blobs, URLs), give
nothing and are not even decoded; every decode stops at its cap, with a note.

The plantings (`tests/detect/plants/{backwards,codepoints,base32,base85,lzstring}.py`) are also
scanned alone and in random chains by `test_detect_planted` and `test_detect_properties`.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
from plant import flow_bytes, http_flow, is_subsequence

from telltale.detect import Canary, Detector, sources
from telltale.detect.decoders import _registry, lzstring
from telltale.detect.decoders._api import Budget
from telltale.detect.decoders.odd import _parts_for
from telltale.detect.matcher import Matcher
from telltale.detect.model import Limits
from telltale.detect.views import View, examine
from tests.detect.plants.lzstring import (compress, compress_to_base64, compress_to_uri, compress_to_utf16)
from tests.detect.plants.protobuf import pb_field

CANARY = "https://tt-4f2a9c7e.example.net/read/9b1e77?s=amber telltale"
OTHER = "https://tt-0d3b61aa.example.org/read/77c1e9?s=cobalt nothing"
TOKEN = "Zq7Xw2Pk9Lm4Rt8v"
ODD_STEPS = {"reversed", "latin1", "base32", "ascii85", "base85", "z85", "lz-string"}
DATA = Path(__file__).parent / "data"


def _scan(body: bytes, value: str = CANARY, limits: Limits | None = None, **kw) -> tuple[list, tuple]:
    det = Detector.build([Canary("c", value)], limits or Limits())
    scan = det.scan_sent(sources.sent_of_flow(http_flow(body=body, **kw)))
    return [(f.location, f.chain) for f in scan.findings], scan.truncated


def _chains(body: bytes, **kw) -> list[tuple[str, ...]]:
    return [c for _, c in _scan(body, **kw)[0]]


def _views(body: bytes, **kw) -> list[View]:
    """Every view the walk makes of a flow's parts (nothing to find: the canary is elsewhere)."""
    matcher = Matcher([Canary("c", "no-such-value-anywhere")])
    budget, views = Budget.of(Limits()), []
    for part in sources.sent_of_flow(http_flow(body=body, **kw)).parts:
        examine(part, matcher.scan, budget, views)
    return views


def _odd_views(body: bytes, **kw) -> list[tuple[str, ...]]:
    return [v.chain for v in _views(body, **kw) if ODD_STEPS & set(v.chain)]


def found(body: bytes, *steps: str, **kw) -> bool:
    chains = _chains(body, **kw)
    assert chains, "not found"
    assert any(is_subsequence(steps, c) for c in chains), chains
    return True


V = CANARY.encode()


# --- text read backwards ---------------------------------------------------------

@pytest.mark.parametrize("body, steps", [
    (base64.b64encode(V)[::-1], ("reversed", "base64")),
    (base64.urlsafe_b64encode(V).rstrip(b"=")[::-1], ("reversed", "base64")),  # (no "-" or "_" in it)
    (V.hex().encode()[::-1], ("reversed", "hex")),
    (V.hex().upper().encode()[::-1], ("reversed", "hex")),
    (quote(V, safe="").encode()[::-1], ("reversed", "url")),
    (json.dumps({"d": base64.b64encode(gzip.compress(V)).decode()[::-1]}).encode(),
     ("json", "reversed", "base64", "gzip")),
    (b"ev=1&q=" + quote(quote(V, safe="")[::-1], safe="").encode(), ("form", "reversed", "url")),
], ids=["base64", "base64url", "hex", "hex-upper", "url", "json-gzip", "form-url"])
def test_reversed_leaks_are_found_with_reversed_then_the_encoding(body, steps):
    assert found(body, *steps)


def test_reversed_in_a_query_value_is_found():
    rev = base64.b64encode(V).decode()[::-1]
    assert found(b"", "query", "reversed", "base64", path="/c?x=1&d=" + quote(rev, safe=""))


# --- binary as a JSON string's code points ----------------------------------------

def _raw_deflate(b: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()


def _pb(b: bytes) -> bytes:
    return pb_field(1, b"\x08\x96\x01") + pb_field(2, pb_field(5, b))


@pytest.mark.parametrize("ascii_only", [True, False], ids=["escaped", "JSON.stringify-utf8"])
@pytest.mark.parametrize("pack, last", [(gzip.compress, "gzip"), (zlib.compress, "deflate"),
                                        (_raw_deflate, "deflate"), (_pb, "protobuf")],
                         ids=["gzip", "zlib", "raw-deflate", "protobuf"])
def test_binary_in_a_json_string_is_decoded_as_latin1(pack, last, ascii_only):
    body = json.dumps({"v": 2, "d": pack(V).decode("latin-1")}, ensure_ascii=ascii_only).encode()
    assert found(body, "json", "latin1", last)


def test_binary_string_bodies_are_decoded_as_latin1():
    binary = gzip.compress(V).decode("latin-1")
    assert found(json.dumps(binary).encode(), "latin1", "gzip")  # xhr.send(JSON.stringify(s))
    assert found(binary.encode("utf-8"), "latin1", "gzip")  # xhr.send(s): the code points as UTF-8
    raw = json.dumps(zlib.compress(V).decode("latin-1"), ensure_ascii=False).encode()  # JSON.stringify, UTF-8
    assert found(raw, "latin1", "deflate")


def test_a_binary_string_inside_escaped_json_in_text_is_found():
    inner = json.dumps({"d": gzip.compress(V).decode("latin-1")})
    body = b"log: " + json.dumps({"msg": inner}).encode() + b" end"
    assert _chains(body)


def test_latin1_text_that_is_not_binary_is_left_alone():
    for text in ("caf\u00e9 cr\u00e8me br\u00fbl\u00e9e \u00fcber \u00e5ngstr\u00f6m na\u00efve",
                 "\u00a9 2026 \u00bfQu\u00e9 pas\u00f3? \u00d1and\u00fa \u00bd \u00b1 \u00b0C"):
        body = json.dumps({"t": text, "u": text}, ensure_ascii=False).encode()
        assert _odd_views(body) == []


# --- base32 ------------------------------------------------------------------------

@pytest.mark.parametrize("enc", [
    base64.b32encode(V), base64.b32encode(V).rstrip(b"="), base64.b32encode(V).lower(),
    base64.b32encode(V).lower().rstrip(b"="),
], ids=["upper", "upper-unpadded", "lower", "lower-unpadded"])
def test_base32_is_found_alone_and_in_fields(enc):
    assert found(enc, "base32")
    assert found(json.dumps({"a": 1, "secret": enc.decode()}).encode(), "json", "base32")
    assert found(b"a=1&k=" + enc.replace(b"=", b"%3D") + b"&z=2", "form", "base32")
    assert found(b"", "query", "base32", path="/c?k=" + enc.decode().replace("=", "%3D") + "&t=1")
    assert found(b"", "path", "base32", path="/v1/" + enc.decode().rstrip("=") + "/x")
    assert found(b"", "cookie", "base32", headers={"Cookie": "a=b; t=" + enc.decode().rstrip("=")})


def test_base32_of_compressed_data_is_decoded_further():
    assert found(base64.b32encode(gzip.compress(V)), "base32", "gzip")
    assert found(_pb(base64.b32encode(V)), "protobuf", "base32")


def test_lowercase_words_are_not_base32():
    body = b"internationalization configurationmanager settingssettingssettings authenticationservice"
    assert _odd_views(body) == []
    assert _parts_for(b"settingssettingssettings") & 15 == 2  # base32 is asked, finds no digit


# --- base85 ------------------------------------------------------------------------

@pytest.mark.parametrize("enc, step", [
    (base64.a85encode(V, adobe=True), "ascii85"),
    (base64.a85encode(V, adobe=True, wrapcol=16), "ascii85"),
    (base64.a85encode(V + b"\0\0\0\0" + V), "ascii85"),  # bare, with a "z"
    (base64.b85encode(V), "base85"),
    (base64.z85encode(V + b"\0" * (-len(V) % 4)), "z85"),
], ids=["adobe", "adobe-wrapped", "a85-bare", "b85", "z85"])
def test_base85_tokens_are_found_alone_and_as_json_values(enc, step):
    assert found(enc, step)
    assert found(json.dumps({"n": 1, "blob": enc.decode()}).encode(), "json", step)


def test_ascii85_blocks_inside_text_are_found():
    body = b"%!PS\n/Data currentfile /ASCII85Decode filter def\n" + base64.a85encode(
        gzip.compress(V), adobe=True, wrapcol=40) + b"\nshowpage\n"
    assert found(body, "ascii85", "gzip")


def test_base85_of_compressed_data_is_decoded_further():
    assert found(base64.b85encode(zlib.compress(V)), "base85", "deflate")


def test_a_url_encoded_token_is_left_to_the_url_decoder():
    body = quote(base64.b85encode(V), safe="").encode()
    chains = _chains(body)
    assert chains and all(c[0] == "url" for c in chains), chains


# --- LZ-string ---------------------------------------------------------------------

def test_the_oracle_encoder_matches_npm_lz_string_and_the_decoder_undoes_it():
    doc = json.loads((DATA / "lzstring_npm.json").read_text())
    assert "npm install lz-string" in doc["generated_by"]
    for case in doc["cases"]:
        text = case["input"]
        assert compress_to_base64(text) == case["base64"]
        assert compress_to_uri(text) == case["uri"]
        assert compress_to_utf16(text) == case["utf16"]
        assert compress(text) == case["raw"]
        want = lzstring.utf8(text)
        for stream, bits in ((lzstring.from_base64(case["base64"].encode()), 6),
                             (lzstring.from_base64(case["uri"].encode()), 6),
                             (lzstring.from_utf16(case["utf16"]), 15),
                             (lzstring.from_units(case["raw"]), 16)):
            lz, d = lzstring.decompress(stream, bits, 1 << 20)
            assert lz.whole and d.data == want and d.error is None


def test_npm_lz_string_output_is_found_in_traffic():
    case = json.loads((DATA / "lzstring_npm.json").read_text())["cases"][1]  # a JSON event with the URL
    url = "https://tt-4f2a9c7e.example.net/read/9b1e77"
    assert found(case["base64"].encode(), "lz-string", value=url)
    form = b"data=" + quote(case["base64"], safe="").encode() + b"&compression=lz64"  # posthog-js's lz64
    assert found(form, "form", "lz-string", value=url)
    assert found(case["utf16"].encode(), "lz-string", value=url)
    assert found(json.dumps({"z": case["raw"]}).encode(), "json", "lz-string", value=url)


@pytest.mark.parametrize("body, steps", [
    (compress_to_base64(CANARY).encode(), ("lz-string",)),
    (compress_to_uri(CANARY).encode(), ("lz-string",)),
    (compress_to_utf16(CANARY).encode(), ("lz-string",)),
    (json.dumps({"z": compress_to_utf16(CANARY)}).encode(), ("json", "lz-string")),
    (json.dumps({"z": compress_to_utf16(CANARY)}, ensure_ascii=False).encode(), ("json", "lz-string")),
    (json.dumps({"z": compress(CANARY)}).encode(), ("json", "lz-string")),
    (json.dumps({"e": [{"u": CANARY}]}).encode(), ()),  # plain, for reference
], ids=["base64", "uri", "utf16", "utf16-json", "utf16-json-stringify", "raw-json", "plain"])
def test_lz_string_transports_are_found(body, steps):
    assert found(body, *steps)


def test_lz_string_uri_in_a_query_survives_plus_read_as_space():
    enc = compress_to_uri(json.dumps({"u": CANARY, "pad": "~" * 40}))
    assert "+" in enc or "-" in enc
    assert found(b"", "query", "lz-string", path="/e?v=1&d=" + enc)  # a raw "+": a space to the query reader


def test_an_lz_string_bomb_stops_at_the_cap_with_a_note():
    bits: list[int] = []

    def put(value: int, n: int) -> None:
        bits.extend((value >> i) & 1 for i in range(n))

    put(0, 2)
    put(ord("a"), 8)
    dict_size, num_bits, enlarge_in = 4, 3, 4
    for _ in range(3000):  # each code the entry not yet made (w + w[0]): outputs of 2, 3, 4... characters
        put(dict_size, num_bits)
        dict_size, enlarge_in = dict_size + 1, enlarge_in - 1
        if enlarge_in == 0:
            enlarge_in, num_bits = 1 << num_bits, num_bits + 1
    put(2, num_bits)
    bits += [0] * (6 - len(bits) % 6)
    b64 = "".join(lzstring_b64(bits[i:i + 6]) for i in range(0, len(bits), 6))
    assert len(b64) < 8000  # about 4.5 million characters when undone
    limits = Limits(max_output=1 << 20)
    findings, notes = _scan(b64.encode(), value="a" * 40, limits=limits)
    assert findings and findings[0][1] == ("lz-string",)
    assert any("lz-string base64 output capped at 1 MiB" in n for n in notes), notes
    lz, d = lzstring.decompress(lzstring.from_base64(b64.encode()), 6, 1 << 20)
    assert lz.capped and len(d.data) == 1 << 20


def lzstring_b64(six: list[int]) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[int("".join(map(str, six)), 2)]


def test_an_lz_string_stream_cut_short_is_scanned_and_noted():
    enc = compress_to_base64(json.dumps({"u": CANARY, "filler": "the quick brown fox " * 20}))
    cut = len(enc) * 2 // 3
    while enc[cut - 1] not in "AEIMQUYcgkosw048":  # where a stream may end: the candidates looked at
        cut += 1
    findings, notes = _scan(enc[:cut].encode())
    assert findings and findings[0][1] == ("lz-string",)
    assert any("lz-string base64 stream damaged or cut off" in n for n in notes), notes


# --- bounds ------------------------------------------------------------------------

@pytest.mark.parametrize("body, what", [
    (base64.b32encode(b"A" * 200 + V), "base32"),
    (base64.a85encode(b"A" * 200 + V, adobe=True), "ascii85"),
    (base64.b85encode(b"A" * 200 + V), "base85"),
])
def test_decodes_stop_at_the_cap_with_a_note(body, what):
    _, notes = _scan(body, limits=Limits(max_output=64))
    assert any(f"{what} output capped" in n for n in notes), notes


# --- clean twins and near misses ---------------------------------------------------

def _twins(value: bytes) -> list[bytes]:
    return [
        base64.b64encode(value)[::-1], value.hex().encode()[::-1], quote(value, safe="").encode()[::-1],
        json.dumps({"d": gzip.compress(value).decode("latin-1")}).encode(),
        json.dumps(zlib.compress(value).decode("latin-1"), ensure_ascii=False).encode(),
        base64.b32encode(value), base64.b32encode(value).lower().rstrip(b"="),
        base64.a85encode(value, adobe=True), base64.b85encode(value),
        base64.z85encode(value + b"\0" * (-len(value) % 4)),
        compress_to_base64(value.decode()).encode(), compress_to_uri(value.decode()).encode(),
        compress_to_utf16(value.decode()).encode(), json.dumps({"z": compress(value.decode())}).encode(),
    ]


@pytest.mark.parametrize("i", range(14))
def test_the_same_encoding_of_another_value_is_not_a_finding(i):
    twin = _twins(OTHER.encode())[i]
    assert _chains(twin) == []
    assert _chains(_twins(V)[i])  # while the canary's own is found


def _near_misses() -> list[bytes]:
    rnd = random.Random(7)
    return [
        b"The quick brown fox jumps over the lazy dog; internationalization and configuration matter.",
        json.dumps({"event": "pageview", "ts": 1700000000123, "dur": 0.9620190834121097, "ok": True,
                    "device": "3fc6ee5fe36381524243e1375895d11e", "tags": ["alpha", "beta"]}).encode(),
        rnd.randbytes(64).hex().encode(), rnd.randbytes(64).hex().upper().encode(),
        base64.b64encode(rnd.randbytes(300)), base64.urlsafe_b64encode(rnd.randbytes(90)).rstrip(b"="),
        b"/api/v1/users/12345/settings/notifications?lang=en-US&page=2&sort=-created_at",
        b"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0",
        b"2026-11-30T10:00:00.000Z", b"0.9620190834121097", b"550e8400-e29b-41d4-a716-446655440000",
        b"a=1&b=two&c=%20three%21&d=4", rnd.randbytes(200),
        "\u4e2d\u6587\u6587\u672c\u6d4b\u8bd5\u5185\u5bb9 \u65e5\u672c\u8a9e\u306e\u30c6\u30ad".encode(),
        b"ACCESSIBILITY_SERVICE_ENABLED", b"XXXXXXXXXXXXXXXXXXXXXXXX",
        b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig",
    ]


@pytest.mark.parametrize("i", range(17))
def test_near_misses_are_neither_found_nor_decoded(i):
    body = _near_misses()[i]
    assert _chains(body) == []
    assert _odd_views(body) == []
    assert _odd_views(b"", path="/c?x=" + quote(body[:200], safe="")) == []


def test_identifiers_and_numbers_cost_the_odd_leaf_decoders_a_few_byte_operations():
    for data in (b"1700000000123", b"0.9620190834121097", b"550e8400-e29b-41d4-a716-446655440000", b"ab12cd",
                 b"3fc6ee5fe36381524243e1375895d11e"):
        assert _parts_for(data) == 0, data
    rnd = random.Random(3)  # hex read backwards is looked at when it ends as a message's first key would
    ids = [rnd.randbytes(rnd.choice((8, 16, 32))).hex().encode() for _ in range(2000)]
    assert sum(_parts_for(i) != 0 for i in ids) < 0.05 * len(ids)


def test_the_odd_decoders_are_registered_where_they_must_be():
    names = [d.name for d in _registry.DECODERS]
    assert names.index("wholes") < names.index("form+odd") < names.index("protobuf+odd")
    walked = {d.name for d in _registry.walk()}
    assert {"reversed", "latin1", "base32", "base85", "ascii85", "lz-string"} <= walked


def test_the_odd_encodings_are_found_from_a_flow_file(tmp_path):
    from telltale.detect import scan_files
    bodies = [base64.b32encode(V), compress_to_base64(CANARY).encode(), base64.b64encode(V)[::-1],
              json.dumps({"d": gzip.compress(V).decode("latin-1")}).encode()]
    p = tmp_path / "odd.mitm"
    p.write_bytes(flow_bytes([http_flow(body=b) for b in bodies]))
    result = scan_files([p], [Canary("c", CANARY)], workers=1)
    assert len({f.flow for f in result.findings}) == len(bodies)
