"""Fixtures shared by the in-process layers: moto's AWS, the provisioned stack, the app."""

from __future__ import annotations

import functools
import gzip
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from joserfc import jwk
from moto import mock_aws
from moto.cognitoidp import models as moto_cognito

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib.aws import get_cors, get_store
from chalicelib.settings import get_settings
from local.delivery import LocalDelivery
from local.event_source import MappingConfig, consumer_source
from local.resources import Names, provision

NAMES = Names.for_stack("test")

# Every boto3 session parses botocore's service models (megabytes of JSON) anew, and every
# test builds fresh sessions (the fixture's and the app's, whose caches are cleared): that
# parse was most of a functional test's time. The models are read-only data, so the
# sessions of this process share one loader and its cache; moto's state stays per test.
botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)


class _OnePoolKey:
    """moto's ``jwk`` for its user pools, importing their one fixed signing key once per process.

    moto signs every pool's tokens with the same key from its resources, and imports it
    again for each new pool (recovering the RSA primes: a sixth of a test's setup). The
    pools themselves, their users and tokens stay per test.
    """

    class RSAKey:
        @staticmethod
        def import_key(data: dict[str, Any]) -> Any:
            return _OnePoolKey.imported(json.dumps(data, sort_keys=True))

    @staticmethod
    @functools.cache
    def imported(text: str) -> Any:
        return jwk.RSAKey.import_key(json.loads(text))


moto_cognito.jwk = _OnePoolKey

TESTS = Path(__file__).parent
# The slow layers by folder: each starts the local stack (smoke does when no deployed URL
# is given), so `-m "not integration and not e2e"` leaves the fast layers.
SLOW_LAYERS = {"integration": "integration", "smoke": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the slow layers with its layer's marker."""
    for item in items:
        layer = item.path.relative_to(TESTS).parts[0]
        if layer in SLOW_LAYERS:
            item.add_marker(getattr(pytest.mark, SLOW_LAYERS[layer]))


SITE_ORIGIN = "https://site.test"
PASSWORD = "Correct-Horse-42"


def _clear_caches() -> None:
    get_settings.cache_clear()
    get_store.cache_clear()
    get_cors.cache_clear()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh in-process AWS (moto) with the stack's resources created."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "RRWEB_ALLOWED_ORIGINS": SITE_ORIGIN,
        **NAMES.environment(),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        _clear_caches()
        session = boto3.session.Session(region_name="us-east-1")
        for name, value in provision(session, NAMES).items():
            monkeypatch.setenv(name, value)
        yield session
    _clear_caches()


@dataclass(frozen=True)
class User:
    """A signed-in user of the stack's pool (moto's Cognito, real signed tokens)."""

    email: str
    sub: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header this user sends."""
        return {"Authorization": f"Bearer {self.access_token}"}


def make_user(session: Any, email: str) -> User:
    """Create, confirm and sign in a user through the app client."""
    cognito = session.client("cognito-idp")
    client_id = os.environ["RRWEB_USER_POOL_CLIENT_ID"]
    sub = cognito.sign_up(
        ClientId=client_id, Username=email, Password=PASSWORD, UserAttributes=[{"Name": "email", "Value": email}]
    )["UserSub"]
    cognito.admin_confirm_sign_up(UserPoolId=os.environ["RRWEB_USER_POOL_ID"], Username=email)
    tokens = cognito.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD}
    )["AuthenticationResult"]
    return User(email=email, sub=sub, access_token=tokens["AccessToken"], refresh_token=tokens["RefreshToken"])


@pytest.fixture
def user(aws: Any) -> User:
    """The owner the default client acts for."""
    return make_user(aws, "owner@example.com")


@pytest.fixture
def owner(user: User) -> str:
    """The default user's owner id (their Cognito sub)."""
    return user.sub


class AuthedHttp:
    """Chalice's test client sending one user's token unless a request sets its own."""

    def __init__(self, http: Any, headers: dict[str, str]) -> None:
        self._http = http
        self._headers = headers

    def acting_as(self, headers: dict[str, str]) -> AuthedHttp:
        """The same test client sending other credentials."""
        return AuthedHttp(self._http, headers)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | str = b"") -> Any:
        given = headers or {}
        merged = given if any(k.lower() == "authorization" for k in given) else {**self._headers, **given}
        return self._http.request(method=method, path=path, headers=merged, body=body)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> Any:
        return self.request("OPTIONS", path, **kwargs)


@pytest.fixture
def anonymous(aws: Any) -> Iterator[Any]:
    """Chalice's test client over the real app, sending no credentials."""
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield AuthedHttp(test_client.http, {})


@pytest.fixture
def client(anonymous: AuthedHttp, user: User) -> AuthedHttp:
    """The test client acting as the default user."""
    return anonymous.acting_as(user.headers)


@pytest.fixture
def deliver(aws: Any) -> Callable[[], int]:
    """Run the stream consumer once over everything on the stream, as Lambda would invoke it."""
    source = consumer_source(
        aws,
        stream=NAMES.stream,
        failure_queue_url=os.environ["RRWEB_FAILURE_QUEUE_URL"],
        config=MappingConfig(),
    )
    return lambda: source.poll(flush=True)


@pytest.fixture
def notify(aws: Any) -> Callable[[], int]:
    """Deliver the bucket's pending object-created notifications to the reaper, as S3 invokes it on AWS."""
    from local.notifications import reaper_notifications
    from local.resources import OBJECT_CREATED_QUEUE_ENV

    return reaper_notifications(aws, queue_url=os.environ[OBJECT_CREATED_QUEUE_ENV]).poll


@pytest.fixture
def archive(aws: Any) -> Callable[[], int]:
    """Run the archive's delivery stream once: the raw stream into ``archive/``."""
    return LocalDelivery(session=aws, delivery_stream=NAMES.delivery).deliver


@pytest.fixture
def bucket_keys(aws: Any) -> Callable[[str], list[str]]:
    """Keys in the stack's bucket under a prefix."""
    s3 = aws.client("s3")

    def keys(prefix: str = "") -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=NAMES.bucket, Prefix=prefix)
        return [entry["Key"] for page in pages for entry in page.get("Contents", [])]

    return keys


def post_json(client: Any, path: str, body: Any, **headers: str) -> Any:
    """POST a JSON body with the Chalice test client."""
    return client.post(path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})


def post_gzip(client: Any, path: str, body: Any) -> Any:
    """POST a gzip JSON body, as the recorder does."""
    return client.post(
        path,
        body=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
    )


def read_events(client: Any, recording_id: str, *, gzip_ok: bool = True) -> list[dict[str, Any]]:
    """Every event of a recording through GET /events, following cursors."""
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        path = f"/recordings/{recording_id}/events" + (f"?after={cursor}" if cursor else "")
        # The binary type first: only then may a page come gzip (API Gateway's rule).
        headers = {"Accept": "application/x-ndjson"}
        if gzip_ok:
            headers["Accept-Encoding"] = "gzip"
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.body
        body = response.body
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        events.extend(json.loads(line) for line in body.splitlines())
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return events


def stream_records(session: Any) -> list[bytes]:
    """Every record currently in the stack's Kinesis stream (all shards)."""
    kinesis = session.client("kinesis")
    out: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=NAMES.stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=NAMES.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out.extend(record["Data"] for record in kinesis.get_records(ShardIterator=iterator)["Records"])
    return out


def create_recording(client: Any, **body: Any) -> str:
    """Create a recording and return its id."""
    response = post_json(client, "/recordings", body)
    assert response.status_code in (200, 201), response.body
    return response.json_body["recording"]["id"]


def load_event(name: str, **replace: str) -> dict[str, Any]:
    """A shared AWS event payload from tests/events, with placeholders filled in."""
    from pathlib import Path

    text = (Path(__file__).parent / "events" / f"{name}.json").read_text()
    for placeholder, value in replace.items():
        text = text.replace(placeholder, value)
    return json.loads(text)
