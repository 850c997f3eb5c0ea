"""Local archive delivery does what the Firehose delivery stream does: the raw stream into archive/.

Against moto in process: the stream's own definition (prefix, GZIP, buffer), one object
per delivery under the hour prefix of its time, JSON lines exactly as they were on the
stream, and at least once when a write fails.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from typing import Any

import pytest

from chalicelib import layout, records
from local.delivery import LocalDelivery, expand_prefix
from tests.support.faults import AwsFault, FlakySession, fail_calls
from tests.support.in_process import NAMES

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
S3_INTERNAL = AwsFault("InternalError", 500, "We encountered an internal error. Please try again.")


def test_prefixes_expand_the_way_firehose_expands_them() -> None:
    assert expand_prefix(layout.ARCHIVE_PREFIX_TEMPLATE, now=NOW) == "archive/2026/03/04/05/"
    assert (
        expand_prefix(layout.ERROR_PREFIX_TEMPLATE, error_type="processing-failed", now=NOW)
        == "errors/processing-failed/2026/03/04/"
    )


def put(session: Any, count: int, *, recording: str = "rec-1", start: int = 0) -> list[bytes]:
    """Ingest records of ``count`` one-event batches, on the stack's stream; returns the lines."""
    lines = [
        line
        for seq in range(start, start + count)
        for line in records.build_records(
            owner="o-1", recording=recording, seq=seq, payload=gzip.compress(b'[{"type":4}]'), received=1, events=1
        )
    ]
    session.client("kinesis").put_records(
        StreamName=NAMES.stream, Records=[{"Data": line, "PartitionKey": recording} for line in lines]
    )
    return lines


def archive(session: Any) -> dict[str, bytes]:
    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=layout.ARCHIVE_PREFIX).get("Contents", [])
    return {entry["Key"]: s3.get_object(Bucket=NAMES.bucket, Key=entry["Key"])["Body"].read() for entry in listed}


def test_the_delivery_stream_is_read_from_its_definition(aws: Any) -> None:
    stream = LocalDelivery(session=aws, delivery_stream=NAMES.delivery).stream
    assert (stream.bucket, stream.prefix, stream.gzip) == (NAMES.bucket, layout.ARCHIVE_PREFIX_TEMPLATE, True)
    assert stream.buffer_seconds == 300  # provision's default, the stack's archiveBufferSeconds
    assert stream.source_arn.endswith(f":stream/{NAMES.stream}")


def test_each_delivery_is_one_gzip_object_of_json_lines_under_its_hour(aws: Any) -> None:
    delivery = LocalDelivery(session=aws, delivery_stream=NAMES.delivery)
    sent = put(aws, 3) + put(aws, 2, recording="rec-2")
    before = dt.datetime.now(dt.UTC)
    assert delivery.deliver() == len(sent)
    after = dt.datetime.now(dt.UTC)
    ((key, body),) = archive(aws).items()
    hours = {f"archive/{at:%Y/%m/%d/%H}/" for at in (before, after)}
    assert any(key.startswith(hour) for hour in hours), key
    assert re.fullmatch(rf"archive/\d{{4}}/\d\d/\d\d/\d\d/{NAMES.delivery}-1-[\d-]{{19}}-[0-9a-f-]{{36}}\.gz", key)
    assert body[:2] == b"\x1f\x8b"
    text = gzip.decompress(body)
    # Records as they were on the stream, each one JSON line (shards in any order).
    assert sorted(text.splitlines(keepends=True)) == sorted(sent)
    assert all(json.loads(line)["v"] == 1 for line in text.splitlines())

    # Nothing new, nothing written; new records make one more object with only them.
    assert delivery.deliver() == 0
    assert len(archive(aws)) == 1
    later = put(aws, 1, start=3)
    assert delivery.deliver() == 1
    (newer,) = [body for k, body in archive(aws).items() if k != key]
    assert gzip.decompress(newer).splitlines(keepends=True) == later


def test_a_failed_write_is_delivered_next_time_nothing_lost(aws: Any) -> None:
    fail_first = [S3_INTERNAL]

    def hooks(service: str, client: Any) -> None:
        if service == "s3":
            fail_calls(client, "PutObject", lambda _: fail_first.pop() if fail_first else None)

    delivery = LocalDelivery(session=FlakySession(aws, hooks), delivery_stream=NAMES.delivery)
    sent = put(aws, 4)
    with pytest.raises(Exception, match="InternalError"):
        delivery.deliver()
    assert archive(aws) == {}
    sent += put(aws, 1, start=4)
    # The position did not move past the records of the failed write: they come again.
    assert delivery.deliver() == len(sent)
    (body,) = archive(aws).values()
    assert sorted(gzip.decompress(body).splitlines(keepends=True)) == sorted(sent)
