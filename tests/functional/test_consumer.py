"""The stream consumer: Kinesis records to one S3 object per recording per invocation.

Lambda delivers at least once, retries from the first failed record, and hands the
consumer whatever is on the stream, in shard order: these pin what it writes for each.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

import app as app_module
from chalicelib import ingest, layout, records
from chalicelib.aws import get_services
from local.event_source import lambda_event
from tests.support.http import create_recording, post_json, read_events
from tests.support.in_process import NAMES


def events_path(recording_id: str) -> str:
    return f"/recordings/{recording_id}/events"


def batch(seq: int, count: int = 2) -> dict[str, Any]:
    """A batch whose events say which seq they belong to."""
    return {
        "seq": seq,
        "events": [{"type": 3, "timestamp": seq * 100 + i + 1, "data": {"seq": seq}} for i in range(count)],
    }


def shard_records(session: Any) -> dict[str, list[dict[str, Any]]]:
    """Every record on the stream, as GetRecords returns them, by shard (non-empty shards only)."""
    kinesis = session.client("kinesis")
    out: dict[str, list[dict[str, Any]]] = {}
    for shard in kinesis.list_shards(StreamName=NAMES.stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=NAMES.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found = kinesis.get_records(ShardIterator=iterator)["Records"]
        if found:
            out[shard["ShardId"]] = found
    return out


def only_shard(session: Any) -> tuple[str, list[dict[str, Any]]]:
    """The one shard holding records (a recording's records share its partition key)."""
    shards = shard_records(session)
    assert len(shards) == 1, shards.keys()
    return next(iter(shards.items()))


def invoke(session: Any, shard: str, found: list[dict[str, Any]]) -> dict[str, Any]:
    """Invoke the consumer function with a Lambda Kinesis event of ``found``, as Lambda does."""
    arn = session.client("kinesis").describe_stream_summary(StreamName=NAMES.stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    return app_module.consume_events(lambda_event(found, shard=shard, stream_arn=arn), None)


def event_keys(owner: str, recording_id: str, bucket_keys: Callable[[str], list[str]]) -> list[str]:
    return bucket_keys(layout.events_prefix(owner, recording_id))


def object_body(session: Any, key: str) -> bytes:
    return session.client("s3").get_object(Bucket=NAMES.bucket, Key=key)["Body"].read()


@contextmanager
def failing_puts(when: Callable[[dict[str, Any]], bool]) -> Iterator[list[str]]:
    """Make the app's S3 PutObject raise for the calls ``when`` picks; yields the keys refused."""
    refused: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if when(params):
            refused.append(params["Key"])
            raise ConnectionError("S3 unreachable")

    events = get_services().s3.meta.events
    events.register("before-parameter-build.s3.PutObject", refuse, unique_id="test-failing-puts")
    try:
        yield refused
    finally:
        events.unregister("before-parameter-build.s3.PutObject", unique_id="test-failing-puts")


def test_a_retried_invocation_rewrites_its_own_object_and_each_event_reads_once(
    client: Any, aws: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    for seq in range(3):
        assert post_json(client, events_path(recording_id), batch(seq)).status_code == 202
    shard, found = only_shard(aws)
    assert invoke(aws, shard, found) == {"batchItemFailures": []}
    keys = event_keys(owner, recording_id, bucket_keys)
    first = [object_body(aws, key) for key in keys]
    assert invoke(aws, shard, found) == {"batchItemFailures": []}  # Lambda retries the same event
    assert event_keys(owner, recording_id, bucket_keys) == keys
    assert len(keys) == 1
    assert keys[0].startswith(layout.events_prefix(owner, recording_id) + shard + "-" + found[0]["SequenceNumber"])
    assert [object_body(aws, key) for key in keys] == first
    assert read_events(client, recording_id) == [e for seq in range(3) for e in batch(seq)["events"]]


def test_the_same_records_in_two_invocations_and_a_batch_written_twice_read_once(
    client: Any, aws: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    for seq in range(3):
        post_json(client, events_path(recording_id), batch(seq))
    # A client retry after a 503 whose first attempt reached the stream: the seq's
    # records are on the stream twice.
    payload = gzip.compress(json.dumps(batch(1)).encode())
    get_services().writer.put(
        records.build_records(owner=owner, recording=recording_id, seq=1, payload=payload, received=1, events=2),
        partition_key=recording_id,
    )
    shard, found = only_shard(aws)
    assert len(found) == 4
    # A partial retry overlaps the first invocation: record 1 is delivered twice.
    invoke(aws, shard, found[:2])
    invoke(aws, shard, found[1:])
    assert len(event_keys(owner, recording_id, bucket_keys)) == 2
    assert read_events(client, recording_id) == [e for seq in range(3) for e in batch(seq)["events"]]


def test_batches_read_in_seq_order_whatever_order_their_records_arrive_in(
    client: Any, aws: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    services = get_services()
    big = {"seq": 2, "events": [{"type": 2, "timestamp": 5, "data": {"text": os.urandom(600).hex()}}]}

    def send(body: dict[str, Any], part_size: int) -> None:
        ingest.ingest(
            table=services.metadata,
            writer=services.writer,
            owner=owner,
            recording_id=recording_id,
            body=json.dumps(body).encode(),
            content_encoding=None,
            part_size=part_size,
        )

    send(batch(3), 1024)
    send(big, 200)  # split at the byte level into several records
    send(batch(1), 1024)
    shard, found = only_shard(aws)
    split = [r for r in found if orjson.loads(r["Data"])["seq"] == 2]
    others = [r for r in found if orjson.loads(r["Data"])["seq"] != 2]
    assert len(split) >= 3
    # seq 3 before seq 1, and the split batch's parts in different invocations, last part first.
    invoke(aws, shard, [others[0], split[-1]])
    assert read_events(client, recording_id) == batch(3)["events"]  # part of seq 2 only: not served yet
    invoke(aws, shard, [others[1], *split[1:-1]])
    assert read_events(client, recording_id) == batch(1)["events"] + batch(3)["events"]
    invoke(aws, shard, split[:1])
    assert len(event_keys(owner, recording_id, bucket_keys)) == 3
    assert read_events(client, recording_id) == batch(1)["events"] + big["events"] + batch(3)["events"]


def test_a_record_that_is_not_an_ingest_record_goes_to_the_failure_queue_and_blocks_nothing(
    client: Any, aws: Any
) -> None:
    recording_id = create_recording(client)
    post_json(client, events_path(recording_id), batch(0))
    poison = b'{"page": "text typed by the visitor"}\n'
    aws.client("kinesis").put_record(StreamName=NAMES.stream, Data=poison, PartitionKey=recording_id)
    post_json(client, events_path(recording_id), batch(1))
    shard, found = only_shard(aws)
    assert [r["Data"] for r in found][1] == poison
    # Nothing to retry: the records after it are stored in the same invocation.
    assert invoke(aws, shard, found) == {"batchItemFailures": []}
    assert read_events(client, recording_id) == batch(0)["events"] + batch(1)["events"]
    received = aws.client("sqs").receive_message(QueueUrl=os.environ["RRWEB_FAILURE_QUEUE_URL"], MaxNumberOfMessages=10)
    messages = [json.loads(m["Body"]) for m in received.get("Messages", [])]
    # Where it is and why, never what it holds (it may be page content).
    assert messages == [
        {
            "reason": "not an ingest record",
            "shard": shard,
            "sequenceNumber": found[1]["SequenceNumber"],
            "bytes": len(poison),
        }
    ]


def test_a_poison_record_that_cannot_be_reported_is_retried_not_skipped(
    client: Any, aws: Any, owner: str, bucket_keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = create_recording(client)
    post_json(client, events_path(recording_id), batch(0))
    aws.client("kinesis").put_record(StreamName=NAMES.stream, Data=b"\x00garbage", PartitionKey=recording_id)
    shard, found = only_shard(aws)

    def queue_down(**_: Any) -> None:
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(get_services().consumer.failures.sqs, "send_message", queue_down)
    # Skipping it unreported would lose the only trace of it: Lambda retries from it.
    assert invoke(aws, shard, found) == {"batchItemFailures": [{"itemIdentifier": found[1]["SequenceNumber"]}]}
    assert read_events(client, recording_id) == batch(0)["events"]


def test_the_event_source_mapping_moves_past_a_poison_record(client: Any, aws: Any, deliver: Any) -> None:
    recording_id = create_recording(client)
    post_json(client, events_path(recording_id), batch(0))
    kinesis = aws.client("kinesis")
    kinesis.put_record(StreamName=NAMES.stream, Data=b'{"v": 99}\n', PartitionKey=recording_id)
    # Data that is not JSON matches neither consumer's filter: Lambda discards it before
    # any invocation (the API only ever writes JSON; the archive keeps it).
    kinesis.put_record(StreamName=NAMES.stream, Data=b"\x00garbage", PartitionKey=recording_id)
    post_json(client, events_path(recording_id), batch(1))
    assert deliver() == 3
    assert read_events(client, recording_id) == batch(0)["events"] + batch(1)["events"]
    post_json(client, events_path(recording_id), batch(2))
    assert deliver() == 1  # the poison record is behind the shard's position, not retried
    received = aws.client("sqs").receive_message(QueueUrl=os.environ["RRWEB_FAILURE_QUEUE_URL"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["reason"] for m in received["Messages"]] == ["not an ingest record"]


def test_a_failed_write_names_that_recordings_earliest_record_and_the_others_are_written(
    client: Any, aws: Any, owner: str, bucket_keys: Any
) -> None:
    # Recordings whose records land on the same shard, so one invocation holds them all.
    ids = [create_recording(client, id=f"same-shard-{n:02d}") for n in range(12)]
    for recording_id in ids:
        post_json(client, events_path(recording_id), batch(0))
        post_json(client, events_path(recording_id), batch(1))
    shard, found = max(shard_records(aws).items(), key=lambda item: len(item[1]))
    on_shard = list(dict.fromkeys(orjson.loads(r["Data"])["recording"] for r in found))
    assert len(on_shard) >= 3
    broken = on_shard[1]
    with failing_puts(lambda params: f"recording={broken}/" in params["Key"]) as refused:
        response = invoke(aws, shard, found)
    assert refused
    earliest = next(r["SequenceNumber"] for r in found if orjson.loads(r["Data"])["recording"] == broken)
    assert response == {"batchItemFailures": [{"itemIdentifier": earliest}]}
    assert event_keys(owner, broken, bucket_keys) == []
    for recording_id in on_shard:
        if recording_id != broken:
            assert len(event_keys(owner, recording_id, bucket_keys)) == 1
            assert read_events(client, recording_id) == batch(0)["events"] + batch(1)["events"]
    # Lambda's retry from that record stores the rest, and nothing reads twice.
    rest = [r for r in found if int(r["SequenceNumber"]) >= int(earliest)]
    assert invoke(aws, shard, rest) == {"batchItemFailures": []}
    for recording_id in on_shard:
        assert read_events(client, recording_id) == batch(0)["events"] + batch(1)["events"]


def test_records_of_a_deleted_recording_are_dropped(client: Any, aws: Any, owner: str, bucket_keys: Any) -> None:
    recording_id = create_recording(client)
    post_json(client, events_path(recording_id), batch(0))
    assert client.delete(f"/recordings/{recording_id}").status_code == 204
    shard, found = only_shard(aws)
    assert invoke(aws, shard, found) == {"batchItemFailures": []}
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []


def test_records_of_a_recording_being_deleted_are_dropped(client: Any, aws: Any, owner: str, bucket_keys: Any) -> None:
    recording_id = create_recording(client)
    post_json(client, events_path(recording_id), batch(0))
    get_services().metadata.mark_deleting(owner, recording_id)
    # The tombstone is still there: the DELETE has not removed the item yet.
    outcome = get_services().consumer.consume(_stream_records(*only_shard(aws)))
    assert (outcome.objects, outcome.dropped, outcome.failed) == (0, 1, [])
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []


def _stream_records(shard: str, found: list[dict[str, Any]]) -> list[Any]:
    from chalicelib.consumer import StreamRecord

    return [StreamRecord(shard=shard, sequence=r["SequenceNumber"], data=r["Data"]) for r in found]


@pytest.mark.parametrize(
    ("owner_id", "recording_id"),
    [
        ("..", "rec-00000001"),
        ("a/../b", "rec-00000001"),
        ("owner-1", "../owner=victim/recording=x"),
        ("owner-1", "rec/evil"),
        ("owner-1", ".."),
        ("", "rec-00000001"),
    ],
)
def test_an_owner_or_id_that_could_escape_its_prefix_is_poison_and_never_part_of_a_key(
    aws: Any, bucket_keys: Any, owner_id: str, recording_id: str
) -> None:
    # Even with a recording item under that name (the consumer looks the recording up).
    get_services().metadata.put_new(
        {"owner": owner_id or "-", "recordingId": recording_id, "createdAt": 1, "updatedAt": 1, "batchCount": 1}
    )
    data = records.build_records(
        owner=owner_id,
        recording=recording_id,
        seq=0,
        payload=gzip.compress(json.dumps(batch(0)).encode()),
        received=1,
        events=2,
    )[0]
    aws.client("kinesis").put_record(StreamName=NAMES.stream, Data=data, PartitionKey="p")
    shard, found = only_shard(aws)
    outcome = get_services().consumer.consume(_stream_records(shard, found))
    assert (outcome.poison, outcome.objects, outcome.failed) == (1, 0, [])
    assert bucket_keys("") == []
    received = aws.client("sqs").receive_message(QueueUrl=os.environ["RRWEB_FAILURE_QUEUE_URL"])
    assert [json.loads(m["Body"])["sequenceNumber"] for m in received["Messages"]] == [found[0]["SequenceNumber"]]


def test_a_record_claiming_more_parts_than_a_batch_can_have_is_refused(
    client: Any, aws: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    post_json(client, events_path(recording_id), batch(0))
    (line,) = records.build_records(
        owner=owner, recording=recording_id, seq=1, payload=gzip.compress(b"{}"), received=1, events=1
    )
    claimed = 1_000_000
    aws.client("kinesis").put_record(
        StreamName=NAMES.stream, Data=line.replace(b'"parts":1,', b'"parts":%d,' % claimed), PartitionKey=recording_id
    )
    shard, found = only_shard(aws)
    assert invoke(aws, shard, found) == {"batchItemFailures": []}
    # Never stored: it could never be joined, and would hold its recording's compaction back.
    stored = [
        part
        for key in bucket_keys(layout.events_prefix(owner, recording_id))
        for part in records.parse_object(aws.client("s3").get_object(Bucket=NAMES.bucket, Key=key)["Body"].read())
    ]
    assert [part.seq for part in stored] == [0]
    received = aws.client("sqs").receive_message(QueueUrl=os.environ["RRWEB_FAILURE_QUEUE_URL"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["reason"] for m in received["Messages"]] == [
        f"{claimed} parts: a batch has at most {records.MAX_PARTS}"
    ]


def test_the_most_parts_a_batch_can_have_follows_from_the_body_limits() -> None:
    from chalicelib import settings

    # A stored payload is the body as sent, or the server's gzip of at most one inflated batch.
    largest = max(settings.MAX_BODY_BYTES, settings.MAX_BATCH_BYTES + settings.MAX_BATCH_BYTES // 1000)
    assert (
        (records.MAX_PARTS - 1) * settings.MAX_PART_PAYLOAD_BYTES
        < largest
        <= (records.MAX_PARTS * settings.MAX_PART_PAYLOAD_BYTES)
    )
    incompressible = os.urandom(settings.MAX_BATCH_BYTES)
    assert len(gzip.compress(incompressible, 6)) <= records.MAX_PAYLOAD_BYTES
