"""Validation helpers that guard the write path."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest

from chalicelib import validation
from chalicelib.errors import BadRequestError, PayloadTooLargeError
from chalicelib.events import accepts_gzip


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
