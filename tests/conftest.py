"""Fixtures shared by the in-process layers: moto's AWS, the provisioned stack, the app."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.settings import StackSettings
from local import cognito_rules
from local.delivery import LocalDelivery
from local.event_source import consumer_sources
from tests.support.accounts import User, make_user
from tests.support.http import AuthedHttp
from tests.support.in_process import NAMES, SITE_ORIGIN, ProvisionedStack, clear_caches, speed_up_moto

speed_up_moto()

TESTS = Path(__file__).parent
# The slow layers by folder: each starts the local stack (smoke does when no deployed URL
# is given), so `-m "not integration and not e2e"` leaves the fast layers.
SLOW_LAYERS = {"integration": "integration", "smoke": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the slow layers with its layer's marker; put the long modules first.

    pytest-xdist hands out whole files in collection order (``--no-loadscope-reorder``):
    a long file handed out last keeps one worker busy while the others have finished, so
    the files marked ``long`` go first, longest first.
    """
    for item in items:
        layer = item.path.relative_to(TESTS).parts[0]
        if layer in SLOW_LAYERS:
            item.add_marker(getattr(pytest.mark, SLOW_LAYERS[layer]))
    items.sort(key=lambda item: -_seconds(item))


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("long")
    return float(marker.kwargs["seconds"]) if marker is not None else 0.0


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    """Where the in-process pool "emails" reset codes and temporary passwords (``local.cognito_rules``)."""
    return tmp_path / "mail.log"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, outbox: Path) -> Iterator[Any]:
    """A fresh in-process AWS (moto) with the stack's resources created, its Cognito as strict as the local stack's."""
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
    undo = cognito_rules.install(outbox)
    try:
        with mock_aws():
            clear_caches()
            session = boto3.session.Session(region_name="us-east-1")
            for name, value in ProvisionedStack.create(session).items():
                monkeypatch.setenv(name, value)
            yield session
    finally:
        undo()
        clear_caches()


@pytest.fixture
def user(aws: Any) -> User:
    """The owner the default client acts for."""
    return make_user(aws, "owner@example.com")


@pytest.fixture
def owner(user: User) -> str:
    """The default user's owner id (their Cognito sub)."""
    return user.sub


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
    """Run the stream's two consumers once over everything on the stream, as Lambda would invoke them
    (each with its filter: unwatched recordings' records, then watched ones'); records handled."""
    sources = consumer_sources(
        aws,
        stream=NAMES.stream,
        failure_queue_url=os.environ["RRWEB_FAILURE_QUEUE_URL"],
        settings=StackSettings(stack="test"),
    )
    return lambda: sum(source.poll(flush=True) for source in sources)


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
