"""Purpose keys: one active key per owner and purpose, readable again by its owner, never another's or a revoked one.

Named keys are unchanged: the secret is in the creating response only, the table keeps
its hash. And a weak password at sign-up is refused with the pool's own rules.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.aws import get_services
from tests.support.accounts import make_user
from tests.support.http import AuthedHttp
from tests.support.in_process import NAMES


def post_key(client: Any, body: dict[str, Any]) -> Any:
    return client.post("/keys", body=json.dumps(body), headers={"Content-Type": "application/json"})


def stored_items(aws: Any) -> list[dict[str, Any]]:
    return aws.resource("dynamodb").Table(NAMES.access_table).scan()["Items"]


def test_a_purpose_key_is_made_once_then_returned_with_its_secret(client: Any, anonymous: AuthedHttp) -> None:
    made = post_key(client, {"purpose": "bookmarklet"})
    assert made.status_code == 201, made.body
    key = made.json_body
    assert (key["purpose"], key["name"], key["revoked"]) == ("bookmarklet", "bookmarklet", False)
    assert key["key"].startswith(f"rrk_{key['id']}_")
    again = post_key(client, {"purpose": "bookmarklet"})
    assert again.status_code == 200
    assert again.json_body == key  # the same key, its secret included
    # It works as an ingest key.
    created = anonymous.post(f"/recordings?ingestKey={key['key']}", body=b"{}", headers={"Content-Type": "text/plain"})
    assert created.status_code == 201
    # Each purpose has a key of its own.
    demo = post_key(client, {"purpose": "demo"})
    assert demo.status_code == 201
    assert demo.json_body["id"] != key["id"]
    assert post_key(client, {"purpose": "demo"}).json_body["key"] == demo.json_body["key"]


def test_the_list_shows_each_keys_purpose_and_no_secret(client: Any) -> None:
    named = post_key(client, {"name": "docs site"}).json_body
    bookmarklet = post_key(client, {"purpose": "bookmarklet"}).json_body
    listed = client.get("/keys").json_body["keys"]
    assert [(k["id"], k["purpose"]) for k in listed] == [(bookmarklet["id"], "bookmarklet"), (named["id"], None)]
    assert all("key" not in k and "secret" not in k and "secretHash" not in k for k in listed)
    assert bookmarklet["key"].split("_", 2)[2] not in json.dumps(listed)


def test_a_revoked_purpose_key_is_never_returned_and_the_next_call_makes_a_new_one(client: Any) -> None:
    first = post_key(client, {"purpose": "demo"}).json_body
    assert client.delete(f"/keys/{first['id']}").status_code == 204
    second = post_key(client, {"purpose": "demo"})
    assert second.status_code == 201
    assert second.json_body["id"] != first["id"]
    assert second.json_body["revoked"] is False
    assert post_key(client, {"purpose": "demo"}).json_body["id"] == second.json_body["id"]
    listed = {k["id"]: (k["purpose"], k["revoked"]) for k in client.get("/keys").json_body["keys"]}
    assert listed == {first["id"]: ("demo", True), second.json_body["id"]: ("demo", False)}


def test_another_owners_purpose_key_is_never_returned(client: Any, anonymous: AuthedHttp, aws: Any) -> None:
    other = anonymous.acting_as(make_user(aws, "other@example.com").headers)
    theirs = post_key(other, {"purpose": "bookmarklet"}).json_body
    mine = post_key(client, {"purpose": "bookmarklet"})
    assert mine.status_code == 201
    assert mine.json_body["id"] != theirs["id"]
    assert theirs["id"] not in [k["id"] for k in client.get("/keys").json_body["keys"]]
    assert client.delete(f"/keys/{theirs['id']}").status_code == 404
    assert post_key(other, {"purpose": "bookmarklet"}).json_body["key"] == theirs["key"]


def test_two_browsers_asking_at_once_get_one_key(client: Any, owner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = get_services().keys
    table = keys.table
    real_get = table.get_item
    other: list[tuple[dict[str, Any], bool]] = []
    raced = False

    def racing_get(**kwargs: Any) -> Any:
        nonlocal raced
        result = real_get(**kwargs)
        if kwargs["Key"]["pk"].startswith("purpose#") and not raced:
            raced = True
            # The other browser asks, and is answered, between this one's read ("no key
            # yet") and its write.
            other.append(keys.for_purpose(owner, {"purpose": "bookmarklet"}))
        return result

    monkeypatch.setattr(table, "get_item", racing_get)
    mine = keys.for_purpose(owner, {"purpose": "bookmarklet"})
    monkeypatch.undo()
    (theirs,) = other
    assert theirs[1] is True  # the other browser made it...
    assert mine == (theirs[0], False)  # ...and this one, whose write lost, returns that one
    assert [k["purpose"] for k in client.get("/keys").json_body["keys"]] == ["bookmarklet"]


def test_purpose_keys_count_toward_the_key_limit(client: Any) -> None:
    for n in range(settings.MAX_KEYS_PER_OWNER - 1):
        assert post_key(client, {"name": f"site {n}"}).status_code == 201
    assert post_key(client, {"purpose": "bookmarklet"}).status_code == 201
    refused = post_key(client, {"purpose": "demo"})
    assert refused.status_code == 409
    assert refused.json_body["error"]["code"] == "too_many_keys"
    assert post_key(client, {"purpose": "bookmarklet"}).status_code == 200  # the existing one is still returned
    assert post_key(client, {"name": "one more"}).status_code == 409


def test_secrets_are_stored_for_purpose_keys_only(client: Any, aws: Any) -> None:
    named = post_key(client, {"name": "docs site"}).json_body
    purpose = post_key(client, {"purpose": "demo"}).json_body
    stored = json.dumps(stored_items(aws), default=str)
    assert named["key"].split("_", 2)[2] not in stored
    assert purpose["key"].split("_", 2)[2] in stored


@pytest.mark.parametrize(
    "body",
    [
        {"purpose": "admin"},
        {"purpose": ""},
        {"purpose": None},
        {"purpose": ["demo"]},
        {"purpose": "demo", "name": "x"},
        {"purpose": "demo", "requestsPerMinute": 10},
    ],
)
def test_a_bad_purpose_is_a_400_and_makes_nothing(client: Any, aws: Any, body: dict[str, Any]) -> None:
    refused = post_key(client, body)
    assert refused.status_code == 400
    assert refused.json_body["error"]["code"] == "invalid_purpose"
    assert "bookmarklet" in refused.json_body["error"]["message"]
    assert stored_items(aws) == [item for item in stored_items(aws) if item["pk"].startswith("rate#")]


def test_a_weak_password_is_refused_with_the_pools_rules(anonymous: AuthedHttp) -> None:
    rules = settings.PASSWORD_POLICY.rules()
    assert rules == "at least 12 characters, with a lowercase letter, an uppercase letter and a number"
    for weak in ("short1A", "alllowercase-123", "ALLUPPERCASE-123", "No-Numbers-Here", "x"):
        refused = anonymous.post(
            "/auth/signup",
            body=json.dumps({"email": "weak@example.com", "password": weak}),
            headers={"Content-Type": "application/json"},
        )
        assert refused.status_code == 400, weak
        assert refused.json_body["error"] == {"code": "invalid_password", "message": f"the password needs {rules}"}
    taken = anonymous.post(
        "/auth/signup",
        body=json.dumps({"email": "weak@example.com", "password": "Strong-enough-42"}),
        headers={"Content-Type": "application/json"},
    )
    assert taken.status_code == 201


def test_cognitos_own_password_refusal_names_the_rules_too() -> None:
    from botocore.exceptions import ClientError

    from chalicelib.accounts import translate_cognito_error

    refusal = ClientError(
        {"Error": {"Code": "InvalidPasswordException", "Message": "Password did not conform with policy"}}, "SignUp"
    )
    error = translate_cognito_error(refusal)
    assert (error.code, error.message) == ("invalid_password", f"the password needs {settings.PASSWORD_POLICY.rules()}")


def test_keys_made_before_the_limits_counter_still_count(client: Any, aws: Any, owner: str) -> None:
    """An owner whose keys predate the counter item gets one counted from the index, at the first change."""
    import time

    table = aws.resource("dynamodb").Table(NAMES.access_table)
    now = int(time.time() * 1000)
    for n in range(settings.MAX_KEYS_PER_OWNER):
        table.put_item(
            Item={
                "pk": f"key#{n:016x}",
                "keyId": f"{n:016x}",
                "owner": owner,
                "secretHash": "0" * 64,
                "name": f"old {n}",
                "createdAt": now - 1000 + n,
            }
        )
    refused = post_key(client, {"name": "one more"})
    assert refused.status_code == 409
    assert refused.json_body["error"]["code"] == "too_many_keys"
    # Revoking one of them, as the first change to a fresh counter, frees exactly one place.
    table.delete_item(Key={"pk": f"keylimits#{owner}"})
    assert client.delete(f"/keys/{0:016x}").status_code == 204
    assert post_key(client, {"name": "one more"}).status_code == 201
    assert post_key(client, {"name": "and another"}).status_code == 409


def test_the_list_tells_when_a_key_was_last_used_and_that_a_revoked_one_is_still_sent(
    client: Any, anonymous: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = post_key(client, {"name": "shop"}).json_body
    record = lambda: anonymous.post(  # noqa: E731
        f"/recordings?ingestKey={key['key']}", body=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert record().status_code == 201
    [listed] = client.get("/keys").json_body["keys"]
    assert isinstance(listed["lastUsedAt"], int)
    assert (listed["lastRefusedAt"], listed["refusals"]) == (None, 0)
    # Noted at most every KEY_USE_NOTE_SECONDS per key in a function: a busy key costs no write a request.
    writes: list[dict[str, Any]] = []
    table = get_services().keys.table
    original = table.update_item

    def counted(**request: Any) -> Any:
        writes.append(request)
        return original(**request)

    monkeypatch.setattr(table, "update_item", counted)
    for _ in range(5):
        assert record().status_code == 201
    assert not [w for w in writes if "lastUsedAt" in w.get("UpdateExpression", "")]

    assert client.delete(f"/keys/{key['id']}").status_code == 204
    for _ in range(4):
        assert record().status_code == 401
    [revoked] = client.get("/keys").json_body["keys"]
    assert revoked["revoked"] is True
    assert isinstance(revoked["lastRefusedAt"], int)
    assert revoked["refusals"] == 1, "a refusal is noted once a minute, whatever the flood"
