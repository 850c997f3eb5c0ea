"""Behind the site's CloudFront: each viewer is counted by its own address, and only CloudFront can say which.

The site reaches the API through the stack's distribution, so API Gateway's ``sourceIp``
is a CloudFront edge, shared by every viewer it serves. The distribution sends the
viewer's address (``CloudFront-Viewer-Address``) and the stack's origin secret
(``X-Origin-Verify``); anyone calling API Gateway directly can send the first, never
the second. Every request here comes from one edge address.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.clients import ORIGIN_VERIFY_HEADER, VIEWER_ADDRESS_HEADER, counted_address
from tests.functional.test_fair_budgets import from_address
from tests.support.http import AuthedHttp
from tests.support.in_process import clear_caches

EDGE = "64.252.64.10"
SECRET = "Vq7d0Xo3sLr9KcA2mZt5WbN8yHe1JuPf"
JSON = {"Content-Type": "application/json"}
BUDGET = 2


@pytest.fixture
def behind_cloudfront(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's origin secret is set, and each address may make BUDGET requests a minute."""
    monkeypatch.setenv("RRWEB_ORIGIN_SECRET", SECRET)
    monkeypatch.setenv("RRWEB_LIMIT_AUTH_REQUESTS", str(BUDGET))
    monkeypatch.setenv("RRWEB_LIMIT_CLIENT_REQUESTS", str(BUDGET))
    clear_caches()


def through_cloudfront(viewer: str, secret: str | None = SECRET) -> dict[str, str]:
    """What the distribution sends for a viewer (or, with another secret, what a forger sends)."""
    headers = {**JSON, VIEWER_ADDRESS_HEADER: viewer}
    if secret is not None:
        headers[ORIGIN_VERIFY_HEADER] = secret
    return headers


def sign_in(http: AuthedHttp, headers: dict[str, str]) -> int:
    """A failed sign-in from the edge: 401 while the counted address has budget, then 429."""
    body = json.dumps({"email": "nobody@example.com", "password": "Not-the-password-1"})
    with from_address(EDGE):
        answer = http.post("/auth/signin", body=body, headers=headers)
    assert answer.status_code in (401, 429), answer.json_body
    return answer.status_code


def post_recording(http: AuthedHttp, headers: dict[str, str]) -> int:
    """An ingest request without credentials: charged to its address, then 401 (or 429 once the address is spent)."""
    with from_address(EDGE):
        answer = http.post("/recordings", body=b"{}", headers=headers)
    assert answer.status_code in (401, 429), answer.json_body
    return answer.status_code


@pytest.mark.parametrize("send", [sign_in, post_recording], ids=["auth", "ingest"])
def test_viewers_behind_one_edge_each_have_their_own_budget(
    behind_cloudfront: None, anonymous: AuthedHttp, send: Any
) -> None:
    flooder = through_cloudfront("198.51.100.66:50211")
    assert [send(anonymous, flooder) for _ in range(BUDGET + 1)] == [401] * BUDGET + [429]
    # Another viewer of the same edge is untouched by the flood.
    assert send(anonymous, through_cloudfront("203.0.113.7:40112")) == 401
    # An IPv6 viewer, as CloudFront writes it (unbracketed, with its port), is one address
    # however it is spelled and whichever port it comes from.
    assert send(anonymous, through_cloudfront("2001:db8::7:51000")) == 401
    assert send(anonymous, through_cloudfront("[2001:0db8:0:0:0:0:0:7]:443")) == 401
    assert send(anonymous, through_cloudfront("2001:db8:0::7:62000")) == 429
    # One subscriber holds a whole /64: its other addresses share the spent budget,
    # while the next /64 has its own.
    assert send(anonymous, through_cloudfront("2001:db8::ffff:1234:5678:9abc:443")) == 429
    assert send(anonymous, through_cloudfront("2001:db8:0:1::7:443")) == 401


@pytest.mark.parametrize(
    "forged_secret",
    [None, "", SECRET[:-1], SECRET + "x", SECRET.lower(), "Vq7d0Xo3sLr9KcA2mZt5WbN8yHe1JuPg", "é" * 8],
    ids=["absent", "empty", "prefix", "longer", "other-case", "one-character-off", "non-ascii"],
)
def test_a_viewer_address_without_the_distributions_secret_is_ignored(
    behind_cloudfront: None, anonymous: AuthedHttp, forged_secret: str | None
) -> None:
    # A direct caller claims a new viewer address on every request: all are counted by
    # its own address (here the edge's), which the claims do not escape.
    claims = [f"203.0.113.{n}:443" for n in range(BUDGET + 1)]
    statuses = [sign_in(anonymous, through_cloudfront(claim, forged_secret)) for claim in claims]
    assert statuses == [401] * BUDGET + [429]
    # The distribution itself, from that same edge, still counts its viewers one by one.
    assert sign_in(anonymous, through_cloudfront("192.0.2.55:39001")) == 401


def test_a_malformed_viewer_address_counts_as_the_edge(behind_cloudfront: None, anonymous: AuthedHttp) -> None:
    malformed = ["not-an-address", "203.0.113.300:443", "[2001:db8::7:443"]
    assert [sign_in(anonymous, through_cloudfront(claim)) for claim in malformed] == [401] * BUDGET + [429]
    # They were all counted by the edge's address; a readable viewer address still has its own.
    assert sign_in(anonymous, through_cloudfront("198.51.100.9:443")) == 401


def test_a_direct_ipv6_client_is_counted_by_its_slash_64() -> None:
    assert (
        counted_address("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == counted_address("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    )
    assert counted_address("2001:db8:1:3::1") != counted_address("2001:db8:1:2::1")
    assert counted_address("::ffff:198.51.100.9") == "198.51.100.9"
    assert counted_address("198.51.100.9") == "198.51.100.9"
