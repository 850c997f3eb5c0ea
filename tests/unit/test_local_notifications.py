"""The local stack's bucket notifications reach a handler as S3's would reach the reaper on AWS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from local.notifications import ObjectCreatedNotifications
from local.resources import OBJECT_CREATED_QUEUE_ENV, Names, notify_object_created, provision

NAMES = Names.for_stack("notify-test")


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


def keys_of(events: list[dict[str, Any]]) -> list[str]:
    return [unquote_plus(record["s3"]["object"]["key"]) for event in events for record in event["Records"]]


def test_screenshots_under_recordings_are_notified_and_no_other_object(session: Any) -> None:
    queue_url = provision(session, NAMES)[OBJECT_CREATED_QUEUE_ENV]
    s3 = session.client("s3")
    for key in (
        "recordings/owner=o/recording=r/screenshot.jpg",
        "archive/2026/01/01/00/a.gz",
        "recordings/x y.gz",
        "recordings/owner=o/recording=r/events/shard-1-2.gz",
        "recordings/owner=o/recording=r/comments/1-a.json",
        "recordings/owner=o/recording=r/events/screenshot.jpg.gz",
        "recordings/owner=o/recording=s t/screenshot.jpg",
    ):
        s3.put_object(Bucket=NAMES.bucket, Key=key, Body=b"x")
    seen: list[dict[str, Any]] = []
    notifications = ObjectCreatedNotifications(sqs=session.client("sqs"), queue_url=queue_url, handler=seen.append)
    assert notifications.poll() == 2
    assert keys_of(seen) == [
        "recordings/owner=o/recording=r/screenshot.jpg",
        "recordings/owner=o/recording=s t/screenshot.jpg",
    ]
    assert seen[0]["Records"][0]["eventName"].startswith("ObjectCreated:")
    assert notifications.poll() == 0  # each event handed over once


def test_a_failed_event_comes_back_later_and_never_spins(session: Any) -> None:
    queue_url = provision(session, NAMES)[OBJECT_CREATED_QUEUE_ENV]
    sqs = session.client("sqs")
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "1"})
    session.client("s3").put_object(Bucket=NAMES.bucket, Key="recordings/a/screenshot.jpg", Body=b"x")
    calls: list[dict[str, Any]] = []

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("the function failed")

    notifications = ObjectCreatedNotifications(sqs=sqs, queue_url=queue_url, handler=flaky)
    assert notifications.poll() == 0
    assert len(calls) == 1
    time.sleep(1.2)
    assert notifications.poll() == 1
    assert keys_of(calls) == ["recordings/a/screenshot.jpg", "recordings/a/screenshot.jpg"]


def test_objects_restored_before_the_notification_is_on_are_not_notified(session: Any) -> None:
    queue_url = provision(session, NAMES, notify=False)[OBJECT_CREATED_QUEUE_ENV]
    s3 = session.client("s3")
    s3.put_object(Bucket=NAMES.bucket, Key="recordings/restored/screenshot.jpg", Body=b"x")
    notify_object_created(session, NAMES)
    s3.put_object(Bucket=NAMES.bucket, Key="recordings/replayed/screenshot.jpg", Body=b"x")
    seen: list[dict[str, Any]] = []
    ObjectCreatedNotifications(sqs=session.client("sqs"), queue_url=queue_url, handler=seen.append).poll()
    assert keys_of(seen) == ["recordings/replayed/screenshot.jpg"]
