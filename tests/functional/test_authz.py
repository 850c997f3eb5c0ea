"""Authorization in process: the matrix, cross-user isolation, keys, accounts, limits, CORS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import TooManyRequestsError
from chalicelib.limits import RateLimiter
from chalicelib.settings import Limits
from tests.support import authz
from tests.support.accounts import User, mailed_code, make_user
from tests.support.events import stream_records
from tests.support.http import AuthedHttp
from tests.support.in_process import NAMES, SITE_ORIGIN


def caller(http: AuthedHttp) -> authz.Call:
    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        sent = {"Accept": "*/*", **({"Content-Type": "application/json"} if body else {}), **headers}
        response = http.request(method, path, headers=sent, body=body)
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text
        return response.status_code, payload

    return call


@pytest.fixture
def matrix(aws: Any, anonymous: AuthedHttp, user: User) -> tuple[authz.Credentials, authz.Call]:
    cognito = aws.client("cognito-idp")
    import os

    other_client = cognito.create_user_pool_client(
        UserPoolId=os.environ["RRWEB_USER_POOL_ID"],
        ClientName="not-the-site",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]
    wrong = cognito.initiate_auth(
        ClientId=other_client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.email, "PASSWORD": "Correct-Horse-42"},
    )["AuthenticationResult"]["AccessToken"]
    other = make_user(aws, "other@example.com")
    call = caller(anonymous)
    return authz.build_credentials(
        owner_token=user.access_token, other_token=other.access_token, wrong_client_token=wrong, call=call
    ), call


@pytest.mark.parametrize("credential", list(authz.EXPECTED))
def test_authorization_matrix(matrix: tuple[authz.Credentials, authz.Call], user: User, credential: str) -> None:
    credentials, call = matrix
    assert authz.run_row(credential, credentials, user.access_token, call) == authz.EXPECTED[credential]


@pytest.fixture
def team(aws: Any, anonymous: AuthedHttp, user: User) -> tuple[authz.Team, authz.Call]:
    people = {name: make_user(aws, f"{name}@example.com") for name in ("member", "outsider", "removed")}
    call = caller(anonymous)
    users = {name: (person.access_token, person.email) for name, person in people.items()}
    return authz.build_team(call, admin_token=user.access_token, users=users), call


@pytest.mark.parametrize("credential", list(authz.TEAM_EXPECTED))
def test_authorization_matrix_of_roles_in_a_team_workspace(
    team: tuple[authz.Team, authz.Call], credential: str
) -> None:
    built, call = team
    assert authz.run_team_row(credential, built, call) == authz.TEAM_EXPECTED[credential]


def test_errors_say_what_is_wrong_in_the_api_shape(anonymous: AuthedHttp, user: User) -> None:
    response = anonymous.get("/recordings")
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    expired = anonymous.get(
        "/recordings", headers={"Authorization": f"Bearer {authz.forge_expired(user.access_token)}"}
    )
    assert expired.json_body["error"]["message"] == "token has expired"


def test_no_data_of_one_user_reaches_another_through_any_route(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, deliver: Any
) -> None:
    secret_event = {"type": 3, "timestamp": 5, "data": {"text": "user A's secret"}}
    created = client.post(
        "/recordings",
        body=json.dumps({"id": "a-private-rec", "title": "A's"}),
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 201
    client.post(
        "/recordings/a-private-rec/events",
        body=json.dumps({"seq": 0, "events": [secret_event]}),
        headers={"Content-Type": "application/json"},
    )
    deliver()
    b = make_user(aws, "b@example.com")
    as_b = anonymous.acting_as(b.headers)
    seen: list[str] = []
    for response in (
        as_b.get("/recordings"),
        as_b.get("/recordings/a-private-rec"),
        as_b.get("/recordings/a-private-rec/events", headers={"Accept": "*/*", **b.headers}),
        as_b.get("/keys"),
        as_b.post(
            "/recordings",
            body=json.dumps({"id": "a-private-rec"}),
            headers={"Content-Type": "application/json", **b.headers},
        ),
    ):
        seen.append(response.body.decode() if isinstance(response.body, bytes) else str(response.body))
    assert not any("secret" in text or "A's" in text for text in seen)
    # B may even use the same client id: it is B's own recording, A's stays intact.
    assert client.get("/recordings/a-private-rec").json_body["title"] == "A's"
    assert as_b.delete("/recordings/a-private-rec").status_code == 204
    assert client.get("/recordings/a-private-rec").status_code == 200


def test_key_secret_is_shown_once_and_stored_only_as_a_hash(aws: Any, client: AuthedHttp) -> None:
    created = client.post("/keys", body=json.dumps({"name": "docs site"}), headers={"Content-Type": "application/json"})
    assert created.status_code == 201
    key = created.json_body["key"]
    secret = key.split("_", 2)[2]
    listed = client.get("/keys").json_body["keys"]
    assert listed == [
        {
            "id": created.json_body["id"],
            "name": "docs site",
            "purpose": None,
            "createdAt": created.json_body["createdAt"],
            "revoked": False,
            # The stack's default budget: the key was not given one of its own.
            "requestsPerMinute": Limits().key_requests,
            "bytesPerMinute": Limits().key_bytes,
            # Never used yet, never refused.
            "lastUsedAt": None,
            "lastRefusedAt": None,
            "refusals": 0,
            # No recording controls of its own (the snippet's options hold), any origin.
            "controls": {},
            "allowedOrigins": [],
            "lastOriginRefusedAt": None,
            "refusedOrigin": None,
            "lastBlockedAt": None,
            "blockedDirective": None,
            "blockedUri": None,
        }
    ]
    stored = json.dumps(aws.client("dynamodb").scan(TableName=NAMES.access_table)["Items"])
    assert secret not in stored
    assert key not in stored


def test_revocation_takes_effect_at_once_in_the_revoking_function(client: AuthedHttp, anonymous: AuthedHttp) -> None:
    key = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"}).json_body
    as_key = {"Authorization": f"Bearer {key['key']}", "Content-Type": "application/json"}
    assert anonymous.post("/recordings", body=b"{}", headers=as_key).status_code == 201
    assert client.delete(f"/keys/{key['id']}").status_code == 204
    assert anonymous.post("/recordings", body=b"{}", headers=as_key).status_code == 401
    assert client.get("/keys").json_body["keys"][0]["revoked"] is True


def test_ingest_key_in_the_query_string_for_send_beacon(client: AuthedHttp, anonymous: AuthedHttp) -> None:
    key = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"}).json_body["key"]
    rid = anonymous.post(f"/recordings?ingestKey={key}", body=b"{}", headers={"Content-Type": "text/plain"}).json_body[
        "recording"
    ]["id"]
    beacon = anonymous.post(
        f"/recordings/{rid}/events?ingestKey={key}",
        body=json.dumps({"seq": 0, "events": [{"type": 4, "timestamp": 1}]}),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert beacon.status_code == 202


def test_too_many_active_keys_is_a_conflict(client: AuthedHttp) -> None:
    for _ in range(20):
        assert client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"}).status_code == 201
    refused = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"})
    assert refused.status_code == 409
    assert refused.json_body["error"]["code"] == "too_many_keys"


def test_request_rate_limit_answers_429_with_retry_after_and_stores_nothing(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, monkeypatch: pytest.MonkeyPatch, deliver: Any
) -> None:
    from tests.support.in_process import clear_caches

    monkeypatch.setenv("RRWEB_LIMIT_KEY_REQUESTS", "3")
    clear_caches()
    key = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"}).json_body["key"]
    as_key = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    rid = anonymous.post("/recordings", body=b"{}", headers=as_key).json_body["recording"]["id"]
    batch = {"seq": 0, "events": [{"type": 4, "timestamp": 1}]}
    statuses = []
    for seq in range(3):
        batch["seq"] = seq
        response = anonymous.post(f"/recordings/{rid}/events", body=json.dumps(batch), headers=as_key)
        statuses.append(response.status_code)
    assert statuses == [202, 202, 429]
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert response.json_body["error"]["code"] == "rate_limited"
    assert len(stream_records(aws)) == 2
    deliver()
    # The signed-in user has a budget of their own and is not affected.
    assert client.get(f"/recordings/{rid}").json_body["batches"] == 2


def test_byte_rate_limit_and_window_turnover(aws: Any) -> None:
    table = aws.resource("dynamodb").Table(NAMES.access_table)
    now = [1_000_040.0]  # 20 s into a window that started at 1_000_020
    limiter = RateLimiter(table=table, clock=lambda: now[0])
    limiter.charge("key#k", body_bytes=600, max_requests=100, max_bytes=1000)
    limiter.charge("key#k", body_bytes=600, max_requests=100, max_bytes=1000)  # crosses the line: counted
    with pytest.raises(TooManyRequestsError) as refused:
        limiter.charge("key#k", body_bytes=1, max_requests=100, max_bytes=1000)
    assert refused.value.headers["Retry-After"] == "41"
    now[0] += 60
    limiter.charge("key#k", body_bytes=600, max_requests=100, max_bytes=1000)


def test_cors_any_origin_for_ingest_site_origin_only_for_reads(client: AuthedHttp, user: User) -> None:
    foreign = "https://some-recorded-site.example"
    ingest = client.options(
        "/recordings/whatever-id/events", headers={"Origin": foreign, "Access-Control-Request-Method": "POST"}
    )
    assert ingest.status_code == 204
    assert ingest.headers["Access-Control-Allow-Origin"] == "*"
    assert ingest.headers["Access-Control-Allow-Methods"] == "POST,OPTIONS"
    keys_preflight = client.options("/keys", headers={"Origin": foreign, "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in keys_preflight.headers
    read_foreign = client.get("/recordings", headers={"Origin": foreign, **user.headers})
    assert "Access-Control-Allow-Origin" not in read_foreign.headers
    read_site = client.get("/recordings", headers={"Origin": SITE_ORIGIN, **user.headers})
    assert read_site.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    assert "X-Next-Cursor" in read_site.headers["Access-Control-Expose-Headers"]
    site_preflight = client.options("/recordings", headers={"Origin": SITE_ORIGIN})
    assert site_preflight.headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
    assert "Authorization" in site_preflight.headers["Access-Control-Allow-Headers"]


def test_sign_up_confirm_sign_in_and_refresh(anonymous: AuthedHttp, outbox: Path) -> None:
    def post(path: str, body: dict[str, Any]) -> Any:
        return anonymous.post(path, body=json.dumps(body), headers={"Content-Type": "application/json"})

    creds = {"email": "New.Person@Example.com", "password": "Long-enough-9"}
    signed_up = post("/auth/signup", creds)
    assert signed_up.status_code == 201
    assert signed_up.json_body == {"email": "new.person@example.com", "confirmed": False}
    assert post("/auth/signup", creds).json_body["error"]["code"] == "account_exists"
    assert post("/auth/signin", creds).status_code == 403  # not confirmed yet
    code = mailed_code(outbox, "new.person@example.com")
    wrong = post("/auth/confirm", {"email": creds["email"], "code": f"{(int(code) + 1) % 1_000_000:06d}"})
    assert (wrong.status_code, wrong.json_body["error"]["code"]) == (400, "invalid_code")
    assert post("/auth/signin", creds).status_code == 403  # a wrong code confirms nothing
    assert post("/auth/confirm", {"email": creds["email"], "code": code}).status_code == 204
    assert post("/auth/confirm", {"email": creds["email"], "code": code}).status_code == 400  # once
    tokens = post("/auth/signin", creds).json_body
    assert set(tokens) == {"accessToken", "idToken", "refreshToken", "expiresIn"}
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    assert anonymous.get("/recordings", headers=headers).status_code == 200
    refreshed = post("/auth/refresh", {"refreshToken": tokens["refreshToken"]}).json_body
    assert (
        anonymous.get("/recordings", headers={"Authorization": f"Bearer {refreshed['accessToken']}"}).status_code == 200
    )
    assert post("/auth/signin", {**creds, "password": "Wrong-password-1"}).status_code == 401
    assert (
        post("/auth/signup", {"email": "not-an-email", "password": "x"}).json_body["error"]["code"] == "invalid_email"
    )
    assert post("/auth/refresh", {"refreshToken": "garbage"}).status_code == 401


def test_one_recording_or_one_address_is_limited_before_any_aws_call(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.in_process import clear_caches

    monkeypatch.setenv("RRWEB_LIMIT_RECORDING_REQUESTS", "3")
    monkeypatch.setenv("RRWEB_LIMIT_CLIENT_REQUESTS", "6")
    clear_caches()
    key = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"}).json_body["key"]
    as_key = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    # address: 1, recording: 1
    rid = anonymous.post("/recordings", body=b"{}", headers=as_key).json_body["recording"]["id"]
    batch = {"seq": 0, "events": [{"type": 4, "timestamp": 1}]}
    statuses = []
    # address: 2, 3, 4 (what a client sends is charged to it, refused or not); recording: 2, 3
    for seq in range(3):
        batch["seq"] = seq
        response = anonymous.post(f"/recordings/{rid}/events", body=json.dumps(batch), headers=as_key)
        statuses.append(response.status_code)
    assert statuses == [202, 202, 429]
    assert response.json_body["error"]["code"] == "rate_limited"
    assert "recording" in response.json_body["error"]["message"]
    assert int(response.headers["Retry-After"]) >= 1
    assert len(stream_records(aws)) == 2
    # Other recordings from the same address: two more fit, then the address is spent.
    for _ in range(2):
        assert anonymous.post("/recordings", body=b"{}", headers=as_key).status_code == 201
    refused = anonymous.post("/recordings", body=b"{}", headers=as_key)
    assert refused.status_code == 429
    assert "client" in refused.json_body["error"]["message"]
    assert int(refused.headers["Retry-After"]) >= 1
