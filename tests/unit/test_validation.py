"""Validation helpers that guard the write path."""

from __future__ import annotations

import gzip
import random
import re
import time
import tracemalloc

import jwt as pyjwt
import pytest

from chalicelib import records, settings, validation
from chalicelib.errors import BadRequestError, PayloadTooLargeError, UnauthorizedError
from chalicelib.reader import accepts_gzip


def test_gzip_bomb_is_cut_off_while_inflating() -> None:
    bomb = gzip.compress(b"\0" * (256 * 1024 * 1024), compresslevel=9)
    limit = 1024 * 1024
    tracemalloc.start()
    with pytest.raises(PayloadTooLargeError):
        validation.inflate(bomb, limit=limit)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * limit  # not the 256 MiB the bomb expands to


def test_multi_member_gzip_inflates_completely() -> None:
    body = gzip.compress(b'{"seq": 1, ') + gzip.compress(b'"events": []}')
    assert validation.inflate(body, limit=1000) == b'{"seq": 1, "events": []}'


def test_trailing_garbage_after_gzip_is_refused() -> None:
    with pytest.raises(BadRequestError):
        validation.inflate(gzip.compress(b"{}") + b"junk", limit=1000)


def test_cursor_round_trips_and_rejects_tampering() -> None:
    cursor = validation.encode_cursor({"s": 3, "i": 9})
    assert validation.decode_cursor(cursor, {"s": int, "i": int}) == {"s": 3, "i": 9}
    assert validation.decode_cursor(None, {"s": int}) is None
    with pytest.raises(BadRequestError):
        validation.decode_cursor(cursor[:-2], {"s": int, "i": int})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        (None, False),
        ("identity", False),
        ("gzip;q=bogus", False),
    ],
)
def test_accept_encoding(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_key_cache_is_bounded_against_floods_of_made_up_keys() -> None:
    from chalicelib import keys as keys_module

    class Table:
        reads = 0

        def get_item(self, **_: object) -> dict[str, object]:
            Table.reads += 1
            return {}

    keys = keys_module.Keys(table=Table(), cache_seconds=60, cache_entries=64)
    for n in range(64 + 500):
        with pytest.raises(UnauthorizedError):
            keys.verify(f"rrk_{n:016x}_{'A' * 43}")
    assert Table.reads == 564  # every made-up id was looked up...
    assert keys.cached() <= 64  # ...and the memory kept for them stayed bounded


def test_jwks_outage_keeps_verifying_with_cached_keys() -> None:
    import requests as requests_lib

    from chalicelib.tokens import TokenVerifier

    class Flaky:
        up = True

        def get(self, url: str, timeout: float) -> object:
            if not Flaky.up:
                raise requests_lib.ConnectionError("down")
            return type("R", (), {"raise_for_status": lambda self: None, "json": lambda self: JWKS})()

    from joserfc import jwk
    from moto.utilities.utils import load_resource

    public = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json")).as_dict(private=False)
    JWKS = {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}  # noqa: N806
    private = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json")).as_pem(private=True)
    now = time.time()
    token = pyjwt.encode(
        {"iss": "https://issuer", "sub": "u", "exp": now + 3600, "iat": now, "token_use": "access", "client_id": "c"},
        private,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    clock = [1000.0]
    verifier = TokenVerifier(
        issuer="https://issuer", client_id="c", jwks_url="https://jwks", http=Flaky(), clock=lambda: clock[0]
    )
    assert verifier.verify(token)["sub"] == "u"
    Flaky.up = False
    clock[0] += 7200  # the hourly refresh is due, and the endpoint is down
    assert verifier.verify(token)["sub"] == "u"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (rb'"\ud800"', rb'"\ufffd"'),  # a high surrogate alone
        (rb'"\udc00x"', rb'"\ufffdx"'),  # a low surrogate alone
        (rb'"x\ud83dy\ude00"', rb'"x\ufffdy\ufffd"'),  # two halves apart
        (rb'"\ud83d\ude00"', rb'"\ud83d\ude00"'),  # a pair: an emoji, untouched
        (rb'"\\ud800"', rb'"\\ud800"'),  # escaped backslash: text, not an escape
        (rb'"\\\ud800"', rb'"\\\ufffd"'),  # an escaped backslash, then a lone escape
        (rb'"\\ud800\udc00"', rb'"\\ud800\ufffd"'),  # text that looks like a high half, then a lone low
        (rb'"\\\\ud800"', rb'"\\\\ud800"'),  # two escaped backslashes: still text
        (rb'"\\\\\ud800"', rb'"\\\\\ufffd"'),  # two escaped backslashes, then a lone escape
        (rb'"\ud800\ud800\udc00"', rb'"\ufffd\ud800\udc00"'),  # a lone high, then a pair
        (rb'"\ud83d\ude00\ude00"', rb'"\ud83d\ude00\ufffd"'),  # a pair, then a lone low
        (rb'"\udc00\ud800"', rb'"\ufffd\ufffd"'),  # a low before a high: no pair
        (rb'"\ud800\\udc00"', rb'"\ufffd\\udc00"'),  # a high, then text that looks like a low half
        (rb'"\uD83D\uDE00\uDBFF"', rb'"\uD83D\uDE00\ufffd"'),  # upper-case hex digits
        (rb'"\ud8zz\udc00"', rb'"\ud8zz\ufffd"'),  # not an escape (refused later), then a lone low
        (rb'"\u00e9\u20ac\ud7ff\ue000"', rb'"\u00e9\u20ac\ud7ff\ue000"'),  # escapes of other characters
        (b'"\\ud800\0"', b'"\\ufffd\0"'),  # repaired, and the NUL byte is still refused as JSON
    ],
)
def test_lone_surrogate_escapes_become_replacement_characters(sent: bytes, kept: bytes) -> None:
    assert validation.well_formed(sent) == kept


def _per_escape_reference(data: bytes) -> bytes:
    """What a lone escape becomes, decided one escape at a time (the definition, not the fast way)."""
    out, at = bytearray(), 0
    high = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
    low = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
    while at < len(data):
        if data[at : at + 2] == b"\\\\":  # an escaped backslash
            out += data[at : at + 2]
            at += 2
        elif high.match(data, at) and low.match(data, at + 6):  # a pair
            out += data[at : at + 12]
            at += 12
        elif high.match(data, at) or low.match(data, at):  # a lone half
            out += b"\\ufffd"
            at += 6
        else:
            out.append(data[at])
            at += 1
    return bytes(out)


@pytest.mark.parametrize("seed", range(5))
def test_repair_matches_the_per_escape_definition(seed: int) -> None:
    """Escapes, pairs and backslash runs in any order are repaired as the one-escape-at-a-time definition says."""
    pieces = [b"\\", b"\\\\", b"u", b"d", b"8", b"x", b'"', b"\\ud800", b"\\udc00", b"\\uD83D", b"\\uDE00"]
    pieces += [b"\\ud83d\\ude00", b"\\udbff", b"\\udfff", b"\\u00e9", b"\\ud8", b"\\n"]
    rng = random.Random(seed)
    for _ in range(4000):
        sent = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 24)))
        assert validation.well_formed(sent) == _per_escape_reference(sent), sent


def _one_string(fill: bytes, size: int = 1024 * 1024) -> bytes:
    head, tail = b'{"seq":0,"events":[{"type":2,"timestamp":5,"data":"', b'"}]}'
    return head + fill * ((size - len(head) - len(tail)) // len(fill)) + tail


def test_a_batch_of_escaped_pairs_is_accepted_as_sent() -> None:
    body = _one_string(b"\\ud83d\\ude00")
    assert validation.event_batch(body).raw_bytes == len(body)
    (event,) = records.payload_events(gzip.compress(body))
    assert event.count(b"\\ud83d\\ude00") == body.count(b"\\ud83d\\ude00")


def test_a_batch_of_lone_escapes_is_validated_as_repaired_and_read_so() -> None:
    body = _one_string(b"\\ud800x", size=7 * settings.MAX_SURROGATE_ESCAPES)
    assert validation.event_batch(body).event_count == 1
    assert validation.well_formed(body) == body.replace(b"\\ud800", b"\\ufffd")
    (event,) = records.payload_events(gzip.compress(body))
    assert b"\\ud800" not in event
    assert event.count(b"\\ufffd") == body.count(b"\\ud800")


@pytest.mark.parametrize("fill", [b"\\ud800x", b"\\ud83d\\ude00"])
def test_a_body_with_a_lone_escape_among_too_many_surrogate_escapes_is_refused(fill: bytes) -> None:
    """Repairing costs a Python step per escape: past the limit a body with a lone half is refused, not repaired."""
    content = b"\\udbff" + fill * settings.MAX_SURROGATE_ESCAPES
    body = _one_string(content, size=len(content) + 64)
    with pytest.raises(BadRequestError) as refused:
        validation.event_batch(body)
    assert refused.value.code == "invalid_json"
    assert f"at most {settings.MAX_SURROGATE_ESCAPES} are repaired" in str(refused.value)
    # The same escapes all paired are valid JSON, never searched, and accepted.
    pairs = b"\\ud83d\\ude00" * (settings.MAX_SURROGATE_ESCAPES + 1)
    assert validation.event_batch(_one_string(pairs, size=len(pairs) + 64)).event_count == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_one_string(b"\\ud83d\\ude00")[:-1], "invalid_json"),  # pairs, then a body cut short
        (_one_string(b"\\ud800")[:-1], "invalid_json"),  # repaired, and still cut short
        (b'{"seq":0,"events":[{"type":2,"timestamp":0,"data":"\\ud800"}]}', "invalid_event"),  # repaired first
        (b'{"seq":-1,"events":[{"type":2,"timestamp":5,"data":"\\ud800"}]}', "invalid_batch"),
        (b'{"seq":0,"events":[{"type":2,"timestamp":5,"data":"\\ud8zz"}]}', "invalid_json"),
    ],
)
def test_other_invalid_input_keeps_its_error_around_surrogate_escapes(body: bytes, code: str) -> None:
    with pytest.raises(BadRequestError) as refused:
        validation.event_batch(body)
    assert refused.value.code == code


def test_a_create_body_with_a_lone_escape_reads_it_as_a_replacement_character() -> None:
    body = b'{"title":"a\\ud83d","seq":0,"events":[{"type":2,"timestamp":5}]}'
    fields = validation.create_body(body)
    assert fields.title == "a\ufffd"
    assert fields.batch is not None
    assert fields.batch.event_count == 1


def test_nesting_up_to_the_documented_depth_is_accepted_wherever_the_call_sits() -> None:
    from chalicelib import settings

    depth = settings.MAX_JSON_DEPTH - 4
    body = b'{"seq":0,"events":[{"type":2,"timestamp":5,"data":' + b"[" * depth + b"]" * depth + b"}]}"

    def nested(levels: int) -> validation.Batch:
        return nested(levels - 1) if levels else validation.event_batch(body)

    assert nested(200).event_count == 1  # 200 frames deeper than a handler needs
    too_deep = body.replace(b"[" * depth, b"[" * (depth + 2000)).replace(b"]" * depth, b"]" * (depth + 2000))
    with pytest.raises(BadRequestError) as refused:
        validation.event_batch(too_deep)
    assert refused.value.code == "too_deep"
