"""The local stack expires what S3's lifecycle rules and DynamoDB's TTL expire on AWS, by the same rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.lifecycle import bucket_rules, due
from chalicelib.schema import ACCESS, RECORDINGS
from local.lifecycle import Lifecycle
from local.resources import Names, provision

NAMES = Names.for_stack("lifecycle-test")
RETENTION, ARCHIVE = 30, 7
KEYS = {
    "recording": "recordings/owner=o/recording=r/events/a.gz",
    "screenshot": "recordings/owner=o/recording=r/screenshot.jpg",
    "asset": f"assets/owner=o/sha256={'a' * 64}",
    "archive": "archive/2026/01/01/00/part.gz",
    "error": "errors/processing-failed/2026/01/01/part.gz",
}


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
        session = boto3.session.Session(region_name="us-east-1")
        provision(session, NAMES, lifecycle=bucket_rules(retention_days=RETENTION, archive_retention_days=ARCHIVE))
        yield session


def lifecycle(session: Any) -> Lifecycle:
    tables = {NAMES.table: RECORDINGS.ttl_attribute, NAMES.access_table: ACCESS.ttl_attribute}
    return Lifecycle(session, bucket=NAMES.bucket, tables=tables)


def present(session: Any) -> set[str]:
    listed = session.client("s3").list_objects_v2(Bucket=NAMES.bucket).get("Contents", [])
    return {name for name, key in KEYS.items() if key in {item["Key"] for item in listed}}


def test_an_object_expires_at_the_midnight_after_its_days_as_on_s3() -> None:
    written = dt.datetime(2026, 1, 1, 10, 30, tzinfo=dt.UTC)
    assert due(written, 1) == dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    assert due(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 30) == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert due(dt.datetime(2026, 1, 1, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))), 1) == dt.datetime(
        2026, 1, 4, tzinfo=dt.UTC
    )


def test_the_bucket_carries_the_deployed_stacks_rules(session: Any) -> None:
    rules = session.client("s3").get_bucket_lifecycle_configuration(Bucket=NAMES.bucket)["Rules"]
    assert {rule["ID"]: rule.get("Expiration", {}).get("Days") for rule in rules} == {
        "expire-recordings": RETENTION,
        "expire-assets": 45,
        "expire-archive": ARCHIVE,
        "expire-delivery-errors": ARCHIVE,
        "abort-incomplete-uploads": None,
    }


def test_each_prefix_goes_after_its_own_rule_and_not_before(session: Any) -> None:
    s3 = session.client("s3")
    for key in KEYS.values():
        s3.put_object(Bucket=NAMES.bucket, Key=key, Body=b"x")
    written = dt.datetime.now(dt.UTC)
    runner = lifecycle(session)

    assert runner.run_once(written + dt.timedelta(days=ARCHIVE - 1)) == {}
    assert present(session) == set(KEYS)
    assert runner.run_once(written + dt.timedelta(days=ARCHIVE + 1)) == {
        "expire-archive": 1,
        "expire-delivery-errors": 1,
    }
    assert present(session) == {"recording", "screenshot", "asset"}
    assert runner.run_once(written + dt.timedelta(days=RETENTION + 1)) == {"expire-recordings": 2}
    assert present(session) == {"asset"}  # an asset outlives the recordings that used it (a lease)
    assert runner.run_once(written + dt.timedelta(days=45 + 1)) == {"expire-assets": 1}
    assert present(session) == set()


def test_an_upload_left_incomplete_is_aborted_after_a_day(session: Any) -> None:
    s3 = session.client("s3")
    upload = s3.create_multipart_upload(Bucket=NAMES.bucket, Key="recordings/owner=o/recording=r/events/big.gz")
    started = dt.datetime.now(dt.UTC)
    runner = lifecycle(session)
    assert runner.run_once(started) == {}  # moto dates every upload 2010: seen now, it is new
    assert runner.run_once(started + dt.timedelta(hours=12)) == {}
    assert runner.run_once(started + dt.timedelta(days=2)) == {"abort-incomplete-uploads": 1}
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=NAMES.bucket)
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.list_parts(
            Bucket=NAMES.bucket, Key="recordings/owner=o/recording=r/events/big.gz", UploadId=upload["UploadId"]
        )


def test_items_past_their_ttl_are_deleted_and_no_other(session: Any) -> None:
    dynamodb = session.client("dynamodb")
    now = dt.datetime.now(dt.UTC)
    epoch = int(now.timestamp())
    hash_key = RECORDINGS.hash_key
    for name, expires in (("past", epoch - 10), ("future", epoch + 3600), ("never", None)):
        item = {hash_key: {"S": name}} | ({"expiresAt": {"N": str(expires)}} if expires else {})
        dynamodb.put_item(TableName=NAMES.table, Item=item)
    dynamodb.put_item(TableName=NAMES.access_table, Item={ACCESS.hash_key: {"S": "old"}, "expiresAt": {"N": "1"}})

    assert lifecycle(session).run_once(now) == {NAMES.table: 1, NAMES.access_table: 1}
    left = sorted(item[hash_key]["S"] for item in dynamodb.scan(TableName=NAMES.table)["Items"])
    assert left == ["future", "never"]
    assert dynamodb.scan(TableName=NAMES.access_table)["Items"] == []
