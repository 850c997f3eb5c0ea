"""The local API's request log never shows an ingest key or a token, however it is spelled."""

from __future__ import annotations

import pytest

from local.stack import redact

KEY = "rrk_0123456789abcdef_" + "A" * 43
TOKEN = "eyJraWQiOiJrMSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "line",
    [
        f"POST /recordings?ingestKey={KEY} HTTP/1.1",
        f"POST /recordings?ingest%4Bey={KEY} HTTP/1.1",  # Chalice decodes the name and accepts it
        f"POST /recordings?k={KEY} HTTP/1.1",
        f"GET /recordings?ingestKey={TOKEN} HTTP/1.1",
        f"GET /recordings?anything={TOKEN} HTTP/1.1",
    ],
)
def test_keys_and_tokens_are_redacted_from_request_lines(line: str) -> None:
    logged = redact(line)
    assert KEY not in logged
    assert TOKEN not in logged
    assert "[redacted]" in logged


def test_numbers_pass_through_for_their_format() -> None:
    assert redact(404) == 404  # "code %d" needs its int
