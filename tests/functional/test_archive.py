"""The archive: Firehose's raw copy of the stream, and rebuilding recordings from it."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from typing import Any

from chalicelib import layout, records
from chalicelib.aws import get_services
from chalicelib.schema import PENDING_ATTRIBUTE
from tests.functional.test_compaction import (
    assert_compacted,
    counts,
    expected_lines,
    fresh_read,
    item,
    keys_of,
    send,
)
from tests.support.http import create_recording
from tests.support.in_process import NAMES

HOUR = dt.timedelta(hours=1)


def lose_events(aws: Any, owner: str, recording_id: str) -> None:
    """What the rebuild is for: a recording's event objects are gone (a bad deploy, a wrong delete)."""
    get_services().events.objects.delete_prefix(layout.events_prefix(owner, recording_id))


def test_a_recording_comes_back_from_the_archive_byte_for_byte_and_a_rerun_adds_nothing(
    client: Any, deliver: Any, archive: Any, aws: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 3, 0, 2, 1, deliver=deliver)
    assert archive() == 4
    assert len(bucket_keys(layout.ARCHIVE_PREFIX)) == 1
    before = fresh_read(client, recording_id)
    assert before == expected_lines(0, 1, 2, 3)
    counted = counts(client, recording_id)
    assert counted == (8, 4)
    lose_events(aws, owner, recording_id)
    assert fresh_read(client, recording_id) == b""

    result = get_services().archive.rebuild_recording(owner, recording_id)
    assert (result.archive_objects, result.records, result.chunks, result.recordings) == (1, 4, 1, {recording_id})
    assert fresh_read(client, recording_id) == before
    keys = keys_of(owner, recording_id, bucket_keys)

    again = get_services().archive.rebuild_recording(owner, recording_id)
    assert again.records == 4
    assert keys_of(owner, recording_id, bucket_keys) == keys  # the same object, rewritten
    assert fresh_read(client, recording_id) == before
    # Counted when they first arrived: rebuilt chunks never go through the stream's count.
    deliver()
    assert counts(client, recording_id) == counted


def test_a_rebuild_beside_the_recordings_own_objects_changes_nothing_it_serves(
    client: Any, deliver: Any, archive: Any, owner: str
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    archive()
    get_services().archive.rebuild_recording(owner, recording_id)
    assert fresh_read(client, recording_id) == expected_lines(0, 1)


def test_a_time_range_rebuild_restores_every_recording_of_those_hours_and_skips_what_is_not_a_record(
    client: Any, deliver: Any, archive: Any, aws: Any, owner: str
) -> None:
    ids = [create_recording(client) for _ in range(3)]
    for n, recording_id in enumerate(ids):
        send(client, recording_id, *range(n + 1), deliver=deliver)
    aws.client("kinesis").put_record(StreamName=NAMES.stream, Data=b"not a record\n", PartitionKey="x")
    archive()
    for recording_id in ids:
        lose_events(aws, owner, recording_id)
    now = dt.datetime.now(dt.UTC)
    result = get_services().archive.rebuild(since=now - HOUR, until=now)
    assert result.recordings == set(ids)
    assert (result.records, result.skipped_invalid) == (1 + 2 + 3, 1)
    for n, recording_id in enumerate(ids):
        assert fresh_read(client, recording_id) == expected_lines(*range(n + 1))


def test_a_batch_whose_parts_landed_in_two_archive_objects_is_rebuilt_whole(
    client: Any, deliver: Any, archive: Any, aws: Any, owner: str
) -> None:
    recording_id = create_recording(client)
    events = [{"type": 2, "timestamp": 1, "data": {"text": random.Random(7).randbytes(200).hex()}}]
    payload = gzip.compress(json.dumps({"seq": 0, "events": events}).encode())
    parts = records.build_records(
        owner=owner, recording=recording_id, seq=0, payload=payload, received=1, events=1, part_size=100
    )
    assert len(parts) >= 3
    writer = get_services().writer
    writer.put(parts[:2], partition_key=recording_id)
    archive()
    writer.put(parts[2:], partition_key=recording_id)
    archive()
    result = get_services().archive.rebuild_recording(owner, recording_id)
    assert (result.archive_objects, result.chunks, result.records) == (2, 2, len(parts))
    assert [json.loads(line) for line in fresh_read(client, recording_id).splitlines()] == events


def test_an_hour_outside_the_range_is_not_read(client: Any, deliver: Any, archive: Any, aws: Any, owner: str) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, deliver=deliver)
    archive()
    lose_events(aws, owner, recording_id)
    now = dt.datetime.now(dt.UTC)
    result = get_services().archive.rebuild(since=now - 3 * HOUR, until=now - 2 * HOUR)
    assert (result.archive_objects, result.records) == (0, 0)
    assert fresh_read(client, recording_id) == b""


def test_a_deleted_recording_is_not_rebuilt(
    client: Any, deliver: Any, archive: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    archive()
    assert client.delete(f"/recordings/{recording_id}").status_code == 204
    now = dt.datetime.now(dt.UTC)
    result = get_services().archive.rebuild(since=now - HOUR, until=now)
    assert (result.records, result.skipped_deleted) == (0, 2)
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []
    assert get_services().archive.rebuild_recording(owner, recording_id).records == 0
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []


def test_rebuilding_a_compacted_recording_puts_it_back_in_line_and_compaction_keeps_one_copy(
    client: Any, deliver: Any, archive: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    archive()
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    assert PENDING_ATTRIBUTE not in item(owner, recording_id)

    get_services().archive.rebuild_recording(owner, recording_id)
    assert PENDING_ATTRIBUTE in item(owner, recording_id)  # its new chunk must be folded or removed
    assert fresh_read(client, recording_id) == expected_lines(0, 1)
    assert get_services().compactor.compact(owner, recording_id).outcome == "unchanged"
    assert_compacted(owner, recording_id, bucket_keys, generation=1)
    assert fresh_read(client, recording_id) == expected_lines(0, 1)
    assert counts(client, recording_id) == (4, 2)


def test_an_archived_record_naming_an_owner_that_could_escape_its_prefix_is_never_written(
    aws: Any, archive: Any, bucket_keys: Any
) -> None:
    get_services().metadata.put_new({"owner": "..", "recordingId": "rec-00000001", "createdAt": 1, "updatedAt": 1})
    data = records.build_records(
        owner="..",
        recording="rec-00000001",
        seq=0,
        payload=gzip.compress(json.dumps({"seq": 0, "events": [{"type": 3, "timestamp": 1}]}).encode()),
        received=1,
        events=1,
    )[0]
    aws.client("kinesis").put_record(StreamName=NAMES.stream, Data=data, PartitionKey="p")
    archive()
    now = dt.datetime.now(dt.UTC)
    result = get_services().archive.rebuild(since=now - HOUR, until=now)
    assert (result.records, result.skipped_invalid) == (0, 1)
    assert bucket_keys(layout.RECORDINGS_ROOT) == []
