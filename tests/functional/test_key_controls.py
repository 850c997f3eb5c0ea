"""A key's recording controls, set in the site (``PATCH /keys/{id}``) and read by its snippet (``GET /controls``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.accounts import User, make_user
from tests.support.http import AuthedHttp

CONTROLS = {
    "sampleRate": 0.25,
    "urlAllow": ["https://shop.example/*"],
    "urlDeny": ["*/account*", "*/checkout*"],
    "minimumDurationMs": 5000,
    "onErrorBufferMs": 30000,
    "onErrorLevels": ["error", "warn"],
    "maskAllText": True,
    "blockMedia": False,
}


def make_key(client: AuthedHttp) -> dict[str, Any]:
    created = client.post("/keys", body=json.dumps({"name": "shop"}), headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.json_body
    return dict(created.json_body)


def patch(client: AuthedHttp, key_id: str, body: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.patch(f"/keys/{key_id}", body=raw, headers={"Content-Type": "application/json"})


def listed(client: AuthedHttp, key_id: str) -> dict[str, Any]:
    (key,) = [key for key in client.get("/keys").json_body["keys"] if key["id"] == key_id]
    return dict(key)


def test_an_admin_sets_a_keys_controls_and_its_snippet_reads_them_with_the_key(
    client: AuthedHttp, anonymous: AuthedHttp
) -> None:
    key = make_key(client)
    page = anonymous.acting_as({"Authorization": f"Bearer {key['key']}"})
    empty = page.get("/controls")
    assert (empty.status_code, empty.json_body) == (200, {"controls": {}})
    answer = patch(client, key["id"], {"controls": CONTROLS})
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body == {"id": key["id"], "controls": CONTROLS, "allowedOrigins": []}
    assert listed(client, key["id"])["controls"] == CONTROLS
    read = page.get("/controls")
    assert read.json_body == {"controls": CONTROLS}
    assert read.headers["Cache-Control"] == "public, max-age=300", "a visitor's pages ask at most every 5 minutes"
    # The key in the query, as a script's simple GET sends it: any origin may read.
    query = anonymous.get(f"/controls?ingestKey={key['key']}", headers={"Origin": "https://shop.example"})
    assert query.json_body == {"controls": CONTROLS}
    assert query.headers["Access-Control-Allow-Origin"] == "*"
    # Cleared: the snippet's options hold again.
    assert patch(client, key["id"], {"controls": None}).json_body == {
        "id": key["id"],
        "controls": {},
        "allowedOrigins": [],
    }
    assert page.get("/controls").json_body == {"controls": {}}
    assert listed(client, key["id"])["controls"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {"controls": {"sampleRate": 2}},
        {"controls": {"sampleRate": "0.5"}},
        {"controls": {"sampleRate": True}},
        {"controls": {"urlAllow": "https://shop.example/*"}},
        {"controls": {"urlAllow": ["x"] * 21}},
        {"controls": {"urlDeny": [" */account"]}},
        {"controls": {"urlAllow": ["not a pattern with spaces"]}},
        {"controls": {"urlAllow": ["shop.example/*"]}},
        {"controls": {"urlDeny": ["a" * 501]}},
        {"controls": {"minimumDurationMs": -1}},
        {"controls": {"minimumDurationMs": 1.5}},
        {"controls": {"onErrorBufferMs": 10**9}},
        {"controls": {"onErrorLevels": ["fatal"]}},
        {"controls": {"onErrorLevels": []}},
        {"controls": {"maskAllText": "true"}},
        {"controls": {"recordEverything": True}},
        {"controls": ["sampleRate", 1]},
        {"controls": {"sampleRate": 0.5}, "name": "renamed"},
        {},
    ],
    ids=[
        "rate-over-1",
        "rate-string",
        "rate-bool",
        "rules-not-list",
        "too-many-rules",
        "rule-spaces",
        "rule-words",
        "rule-no-scheme",
        "rule-too-long",
        "negative-duration",
        "fractional-duration",
        "huge-buffer",
        "unknown-level",
        "no-levels",
        "bool-string",
        "unknown-control",
        "not-object",
        "extra-field",
        "empty",
    ],
)
def test_a_bad_control_is_refused_whole_and_changes_nothing(client: AuthedHttp, body: dict[str, Any]) -> None:
    key = make_key(client)
    assert patch(client, key["id"], {"controls": {"maskAllText": True}}).status_code == 200
    refused = patch(client, key["id"], body)
    assert refused.status_code == 400, refused.json_body
    assert refused.json_body["error"]["code"] in ("invalid_controls", "invalid_key", "invalid_json")
    assert listed(client, key["id"])["controls"] == {"maskAllText": True}


def test_a_body_that_is_not_json_is_a_400(client: AuthedHttp) -> None:
    refused = patch(client, make_key(client)["id"], b"{not json")
    assert refused.status_code == 400


def test_someone_elses_key_is_not_found_and_a_revoked_key_is_a_conflict(aws: Any, client: AuthedHttp) -> None:
    key = make_key(client)
    other = client.acting_as(make_user(aws, "other@example.com").headers)
    assert patch(other, key["id"], {"controls": {"sampleRate": 0}}).status_code == 404
    assert listed(client, key["id"])["controls"] == {}
    assert patch(client, "0123456789abcdef", {"controls": {"sampleRate": 0}}).status_code == 404
    assert patch(client, "not-a-key", {"controls": {"sampleRate": 0}}).status_code == 400
    assert client.delete(f"/keys/{key['id']}").status_code == 204
    revoked = patch(client, key["id"], {"controls": {"sampleRate": 0}})
    assert (revoked.status_code, revoked.json_body["error"]["code"]) == (409, "key_revoked")


def test_a_signed_in_user_has_no_key_controls(client: AuthedHttp, user: User) -> None:
    assert client.get("/controls").json_body == {"controls": {}}


def ingest(anonymous: AuthedHttp, key: str, origin: str | None) -> Any:
    headers = {"Content-Type": "text/plain", **({"Origin": origin} if origin else {})}
    return anonymous.post(f"/recordings?ingestKey={key}", body=b"{}", headers=headers)


def test_a_key_allowed_on_some_origins_is_refused_on_others_and_the_keys_page_says_which(
    client: AuthedHttp, anonymous: AuthedHttp
) -> None:
    key = make_key(client)
    answer = patch(client, key["id"], {"allowedOrigins": ["https://Shop.example/", "https://*.shop.example"]})
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["allowedOrigins"] == ["https://shop.example", "https://*.shop.example"]
    assert answer.json_body["controls"] == {}, "the controls are left as they were"
    assert ingest(anonymous, key["key"], "https://shop.example").status_code == 201
    assert ingest(anonymous, key["key"], "https://blog.shop.example").status_code == 201
    for origin in ("https://evil.example", "http://shop.example", "https://shop.example.evil", "null"):
        refused = ingest(anonymous, key["key"], origin)
        assert (refused.status_code, refused.json_body["error"]["code"]) == (403, "origin_not_allowed"), origin
    # Not a page's script (a server, a tool): it could send any Origin, so none is required.
    assert ingest(anonymous, key["key"], None).status_code == 201
    row = listed(client, key["id"])
    assert row["refusedOrigin"] == "https://evil.example", "noted at most once a minute: the first refusal"
    assert row["lastOriginRefusedAt"] is not None
    assert row["allowedOrigins"] == ["https://shop.example", "https://*.shop.example"]
    # Cleared: any origin again.
    assert patch(client, key["id"], {"allowedOrigins": None}).json_body["allowedOrigins"] == []
    assert ingest(anonymous, key["key"], "https://evil.example").status_code == 201


@pytest.mark.parametrize(
    "origins",
    [["shop.example"], ["https://shop.example/path"], ["*"], ["https://*"], ["ftp://shop.example"], ["x"] * 21, "a"],
    ids=["no-scheme", "path", "star", "star-host", "ftp", "too-many", "not-list"],
)
def test_a_bad_origin_is_refused_whole(client: AuthedHttp, origins: Any) -> None:
    key = make_key(client)
    refused = patch(client, key["id"], {"allowedOrigins": origins})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (400, "invalid_origins")
    assert listed(client, key["id"])["allowedOrigins"] == []


def test_a_recorder_blocked_by_a_pages_policy_reports_it_and_the_keys_page_says_so(
    client: AuthedHttp, anonymous: AuthedHttp
) -> None:
    key = make_key(client)
    query = f"ingestKey={key['key']}&directive=connect-src&uri=https%3A%2F%2Fapi.example"
    answer = anonymous.get(f"/blocked?{query}")
    assert answer.status_code == 204
    row = listed(client, key["id"])
    assert (row["blockedDirective"], row["blockedUri"]) == ("connect-src", "https://api.example")
    assert row["lastBlockedAt"] is not None
    for bad in (
        "directive=eval&uri=https%3A%2F%2Fapi.example",
        "directive=connect-src&uri=https%3A%2F%2Fa.example%2Fsecret",
    ):
        refused = anonymous.get(f"/blocked?ingestKey={key['key']}&{bad}")
        assert (refused.status_code, refused.json_body["error"]["code"]) == (400, "invalid_report")


def test_controls_are_a_merge_patch_a_partial_change_keeps_the_rest(client: AuthedHttp, anonymous: AuthedHttp) -> None:
    key = make_key(client)
    assert patch(client, key["id"], {"controls": CONTROLS}).status_code == 200
    changed = patch(client, key["id"], {"controls": {"sampleRate": 0.3, "urlDeny": None}})
    expected = {name: value for name, value in CONTROLS.items() if name != "urlDeny"} | {"sampleRate": 0.3}
    assert changed.json_body["controls"] == expected, "maskAllText and the rest kept"
    page = anonymous.acting_as({"Authorization": f"Bearer {key['key']}"})
    read = page.get("/controls")
    assert read.json_body == {"controls": expected}
    assert read.headers["Vary"] == "Authorization", "a shared cache keys on the key in the header"
    # A rate finer than a millionth is no use, and DynamoDB keeps no number that small.
    assert patch(client, key["id"], {"controls": {"sampleRate": 5e-324}}).json_body["controls"]["sampleRate"] == 0.0
    assert (
        patch(client, key["id"], {"controls": {"sampleRate": 0.1234567}}).json_body["controls"]["sampleRate"]
        == 0.123457
    )
