"""Fair budgets: what a client sends is charged to it, never to a site, owner or recording it cannot act for.

An ingest key is public (it sits in every recorded page), so anyone may present it, or a
made-up one. A request is charged in this order: its client address (requests and bytes,
accepted or not), then, only once it is authenticated and its body acceptable, the key's
or user's budget and its recording's (keyed by owner and id). These tests flood from one
address and then check that a well-behaved visitor of the same site, from another
address, is still answered 202.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.client import BaseClient

from chalicelib import settings
from chalicelib.aws import get_services
from chalicelib.errors import ConflictError, TooManyRequestsError
from tests.functional.test_bad_input import assert_error
from tests.support.accounts import make_user
from tests.support.http import AuthedHttp
from tests.support.in_process import clear_caches

ATTACKER = "198.51.100.66"
VISITOR = "203.0.113.7"
JSON = {"Content-Type": "application/json"}


@contextmanager
def from_address(address: str) -> Iterator[None]:
    """Requests made inside come from ``address``, as API Gateway's ``requestContext.identity.sourceIp``."""
    from chalice.local import LambdaEventConverter

    before = LambdaEventConverter.LOCAL_SOURCE_IP
    LambdaEventConverter.LOCAL_SOURCE_IP = address
    try:
        yield
    finally:
        LambdaEventConverter.LOCAL_SOURCE_IP = before


def limits(monkeypatch: pytest.MonkeyPatch, **values: int) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"RRWEB_LIMIT_{name.upper()}", str(value))
    clear_caches()


def batch(seq: int) -> str:
    return json.dumps({"seq": seq, "events": [{"type": 3, "timestamp": 1_700_000_000_000 + seq}]})


def new_key(client: AuthedHttp) -> dict[str, str]:
    made = client.post("/keys", body=b"{}", headers=JSON)
    assert made.status_code == 201, made.body
    return {**JSON, "Authorization": f"Bearer {made.json_body['key']}"}


def visitor_recording(anonymous: AuthedHttp, as_key: dict[str, str]) -> str:
    with from_address(VISITOR):
        created = anonymous.post("/recordings", body=b"{}", headers=as_key)
    assert created.status_code == 201, created.body
    return created.json_body["recording"]["id"]


def test_oversized_bodies_from_one_address_never_spend_the_sites_byte_budget(
    client: AuthedHttp, anonymous: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A site's key may take 8 MiB a minute; one address may send 16 MiB.
    limits(monkeypatch, key_bytes=8 * 1024 * 1024, client_bytes=16 * 1024 * 1024)
    as_key = new_key(client)
    recording_id = visitor_recording(anonymous, as_key)
    oversized = b"x" * (5 * 1024 * 1024)  # above the 4 MiB body limit, below API Gateway's 10 MB
    assert len(oversized) > settings.MAX_BODY_BYTES
    with from_address(ATTACKER):
        answers = [
            anonymous.post(f"/recordings/{recording_id}/events", body=oversized, headers=as_key) for _ in range(4)
        ]
    # Three bodies fit the address's 16 MiB and are refused for their size; the fourth
    # is refused for the address's bytes, before anything else is looked at.
    for answer in answers[:3]:
        assert_error(answer, 413, "body_too_large")
    assert_error(answers[3], 429, "rate_limited")
    assert "client address" in answers[3].json_body["error"]["message"]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 61
    # 20 MiB were sent with the site's key, more than its 8 MiB; none were charged to it.
    with from_address(VISITOR):
        accepted = anonymous.post(f"/recordings/{recording_id}/events", body=batch(0), headers=as_key)
    assert accepted.status_code == 202, accepted.body


def test_refused_bodies_never_spend_the_sites_request_budget(
    client: AuthedHttp, anonymous: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits(monkeypatch, key_requests=5)
    as_key = new_key(client)
    recording_id = visitor_recording(anonymous, as_key)  # the key's first request
    path = f"/recordings/{recording_id}/events"
    with from_address(ATTACKER):
        for _ in range(10):
            assert_error(anonymous.post(path, body=b"{not json", headers=as_key), 400, "invalid_json")
            assert_error(
                anonymous.post(path, body=b"{}", headers={**as_key, "Content-Encoding": "br"}),
                415,
                "unsupported_encoding",
            )
            assert_error(
                anonymous.post(path, body=json.dumps({"seq": -1, "events": []}), headers=as_key), 400, "invalid_batch"
            )
    # 30 refused requests with the key; of its budget of 5 only the create was spent.
    with from_address(VISITOR):
        statuses = [anonymous.post(path, body=batch(seq), headers=as_key).status_code for seq in range(4)]
    assert statuses == [202, 202, 202, 202]


def test_an_owners_oversized_bodies_spend_only_their_address_not_their_budget(
    client: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits(monkeypatch, user_bytes=8 * 1024 * 1024)
    recording_id = client.post("/recordings", body=b"{}", headers=JSON).json_body["recording"]["id"]
    with from_address(ATTACKER):
        for _ in range(3):
            refused = client.post(f"/recordings/{recording_id}/events", body=b"x" * (5 * 1024 * 1024), headers=JSON)
            assert_error(refused, 413, "body_too_large")
    with from_address(VISITOR):
        assert client.get("/recordings").status_code == 200
        assert client.post(f"/recordings/{recording_id}/events", body=batch(0), headers=JSON).status_code == 202


def test_a_made_up_key_cannot_lock_someone_elses_recording(
    client: AuthedHttp, anonymous: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_key = new_key(client)
    recording_id = visitor_recording(anonymous, as_key)
    made_up = {**JSON, "Authorization": f"Bearer rrk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"}
    assert settings.Limits().recording_requests < 300 < settings.Limits().client_requests
    with from_address(ATTACKER):
        for seq in range(300):
            refused = anonymous.post(f"/recordings/{recording_id}/events", body=batch(seq), headers=made_up)
            assert refused.status_code == 401, refused.body
    with from_address(VISITOR):
        accepted = anonymous.post(f"/recordings/{recording_id}/events", body=batch(0), headers=as_key)
    assert accepted.status_code == 202, accepted.body


def test_another_owners_key_cannot_lock_a_recording_of_the_same_id(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20 a minute: a token comes back every 3 s, so the 60 requests surely spend it.
    limits(monkeypatch, recording_requests=20)
    as_key = new_key(client)
    recording_id = visitor_recording(anonymous, as_key)
    other = anonymous.acting_as(make_user(aws, "other@example.com").headers)
    theirs = new_key(other)
    answers: dict[int, int] = {}
    with from_address(ATTACKER):
        for seq in range(60):
            status = anonymous.post(f"/recordings/{recording_id}/events", body=batch(seq), headers=theirs).status_code
            answers[status] = answers.get(status, 0) + 1
    # Their own recording of that id: not found, then their own bucket for it is spent.
    assert set(answers) == {404, 429}
    assert answers[404] >= 20
    with from_address(VISITOR):
        accepted = anonymous.post(f"/recordings/{recording_id}/events", body=batch(0), headers=as_key)
    assert accepted.status_code == 202, accepted.body


@contextmanager
def dynamodb_applies_one_call_at_a_time() -> Iterator[None]:
    """Each AWS call atomic, as DynamoDB applies each call (and the local stack's embedded AWS does).

    moto in process checks a condition and writes without a lock, and restores a whole
    table when a transaction fails, so threads could interleave inside one call. Between
    calls, each thread yields, so the threads' calls interleave as concurrent functions' do.
    """
    lock = threading.Lock()
    original: Callable[..., Any] = BaseClient._make_api_call

    def atomic(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        with lock:
            result = original(self, operation_name, api_params)
        time.sleep(0.002)
        return result

    BaseClient._make_api_call = atomic
    try:
        yield
    finally:
        BaseClient._make_api_call = original


def create_at_once(owner: str, count: int, body: Callable[[int], dict[str, Any]]) -> list[Any]:
    """``count`` key creations for ``owner`` started together in threads: each one's key or its exception."""
    keys = get_services().keys
    start = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def create(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = keys.create(owner, body(index))
        except Exception as exc:  # the outcome is what the test checks
            outcomes[index] = exc

    threads = [threading.Thread(target=create, args=(index,)) for index in range(count)]
    with dynamodb_applies_one_call_at_a_time():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_forty_parallel_key_creations_leave_exactly_the_active_limit(client: AuthedHttp, owner: str) -> None:
    outcomes = create_at_once(owner, 40, lambda n: {"name": f"site {n}"})
    created = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, dict)]
    assert len(created) == settings.MAX_KEYS_PER_OWNER
    assert all(isinstance(error, ConflictError) and error.code == "too_many_keys" for error in refused), refused
    listed = client.get("/keys").json_body["keys"]
    assert sorted(key["id"] for key in listed if not key["revoked"]) == sorted(key["id"] for key in created)
    assert_error(client.post("/keys", body=b"{}", headers=JSON), 409, "too_many_keys")
    # Revoking one frees exactly one place.
    assert client.delete(f"/keys/{created[0]['id']}").status_code == 204
    assert client.delete(f"/keys/{created[0]['id']}").status_code == 204  # twice: still one place
    assert client.post("/keys", body=b"{}", headers=JSON).status_code == 201
    assert_error(client.post("/keys", body=b"{}", headers=JSON), 409, "too_many_keys")


def test_parallel_key_creations_keep_the_daily_creation_limit_exact(client: AuthedHttp, owner: str) -> None:
    already = settings.MAX_KEYS_CREATED_PER_WINDOW - 5
    for _ in range(already):
        made = client.post("/keys", body=b"{}", headers=JSON).json_body
        assert client.delete(f"/keys/{made['id']}").status_code == 204
    outcomes = create_at_once(owner, 20, lambda n: {})
    created = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, dict)]
    assert len(created) == 5
    assert all(isinstance(error, TooManyRequestsError) for error in refused), refused
    assert len(client.get("/keys").json_body["keys"]) == settings.MAX_KEYS_CREATED_PER_WINDOW
    refused_now = client.post("/keys", body=b"{}", headers=JSON)
    assert_error(refused_now, 429, "rate_limited")
    assert 1 <= int(refused_now.headers["Retry-After"]) <= settings.KEY_CREATION_WINDOW_S + 1


def test_the_local_api_gives_each_caller_its_own_address(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack's server, like API Gateway, tells the app who called (loopback has many addresses)."""
    import http.client

    from chalice.config import Config

    from app import app
    from local.stack import Intake, api_server

    limits(monkeypatch, client_requests=2)
    server = api_server(
        app,
        Config.create(chalice_stage="dev", app_name=app.app_name),
        host="127.0.0.1",
        port=0,
        intake=Intake(),
        health=lambda: None,
    )
    port = server.server.server_address[1]
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    made_up = {**JSON, "Authorization": f"Bearer rrk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"}

    def post_from(address: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(address, 0))
        try:
            connection.request("POST", "/recordings", body=b"{}", headers=made_up)
            return connection.getresponse().status
        finally:
            connection.close()

    try:
        assert [post_from("127.0.0.2") for _ in range(3)] == [401, 401, 429]
        # Another caller is another client: not held back by the first one's requests.
        assert post_from("127.0.0.3") == 401
    finally:
        server.shutdown()
        server.server.server_close()
