"""The local event source mapping hands records to the consumer the way Lambda's does.

Against moto's Kinesis in process, with a clock the test moves: batching window, batch
size, partial batch responses, bisection on errors, giving up to the on-failure
destination, and never a record skipped without a trace.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.records import LIVE_FILTER, UNWATCHED_FILTER
from infra.settings import StackSettings
from local.event_source import MAX_PAYLOAD_BYTES, KinesisEventSource, MappingConfig, matches

STREAM = "events"


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Consumer:
    """A handler that records what it was given and answers as told."""

    answers: list[Any] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    sequences: list[list[str]] = field(default_factory=list)
    shards: list[set[str]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any]) -> Any:
        records = event["Records"]
        self.calls.append([base64.b64decode(r["kinesis"]["data"]).decode() for r in records])
        self.sequences.append([r["kinesis"]["sequenceNumber"] for r in records])
        self.shards.append({r["eventID"].split(":", 1)[0] for r in records})
        answer = self.answers.pop(0) if self.answers else None
        if callable(answer):
            answer = answer(records)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def on_failure(self, message: dict[str, Any]) -> None:
        self.failures.append(message)


@pytest.fixture
def kinesis(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName=STREAM, ShardCount=1)
        yield client


def arn(kinesis: Any) -> str:
    return kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]


def put(kinesis: Any, *names: str, key: str = "rec") -> None:
    kinesis.put_records(StreamName=STREAM, Records=[{"Data": name.encode(), "PartitionKey": key} for name in names])


def source(kinesis: Any, consumer: Consumer, clock: Clock, **config: Any) -> KinesisEventSource:
    return KinesisEventSource(
        kinesis=kinesis,
        stream_arn=arn(kinesis),
        handler=consumer,
        on_failure=consumer.on_failure,
        config=MappingConfig(**config),
        clock=clock,
    )


def failed(*which: str) -> Any:
    """A partial batch response naming these records (by their data) among those of the batch."""

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["kinesis"]["sequenceNumber"]}
                for r in records
                if base64.b64decode(r["kinesis"]["data"]).decode() in which
            ]
        }

    return answer


def names(first: int, last: int) -> list[str]:
    return [f"r{i}" for i in range(first, last + 1)]


def test_the_defaults_are_a_deployed_stacks_mapping() -> None:
    settings = StackSettings(stack="any")
    assert dataclasses.replace(MappingConfig(), filter=UNWATCHED_FILTER) == MappingConfig.of(settings)
    assert dataclasses.replace(MappingConfig(), filter=LIVE_FILTER) == MappingConfig.of(settings, watched=True)
    assert (MappingConfig().batch_size, MappingConfig().batching_window, MappingConfig().max_retries) == (
        settings.consumer_batch_size,
        settings.consumer_batching_window_seconds,
        settings.consumer_max_retries,
    )


def test_no_invocation_before_the_window_unless_the_batch_is_full(kinesis: Any) -> None:
    consumer, clock = Consumer(), Clock()
    mapping = source(kinesis, consumer, clock, batch_size=5, batching_window=3.0)
    put(kinesis, "r0", "r1")
    assert mapping.poll() == 0
    clock.now = 2.9
    put(kinesis, "r2")
    assert mapping.poll() == 0  # read, but the window of the first record is still open
    assert consumer.calls == []
    clock.now = 3.0
    assert mapping.poll() == 3
    assert consumer.calls == [names(0, 2)]

    # A full batch goes at once, its window far from over; the rest waits for its own.
    put(kinesis, *names(3, 9))
    clock.now = 4.0
    assert mapping.poll() == 5
    assert consumer.calls[1:] == [names(3, 7)]
    clock.now = 6.9
    assert mapping.poll() == 0
    clock.now = 7.0
    assert mapping.poll() == 2
    assert consumer.calls[2:] == [names(8, 9)]

    # A flush (before a checkpoint or a stop) reads now and ignores the window.
    put(kinesis, "r10")
    clock.now = 7.1  # not even a poll due
    assert mapping.poll(flush=True) == 1
    assert consumer.calls[3:] == [["r10"]]


def test_lambda_polls_about_once_a_second(kinesis: Any) -> None:
    consumer, clock = Consumer(), Clock()
    mapping = source(kinesis, consumer, clock, batch_size=1, batching_window=0)
    assert mapping.poll() == 0
    put(kinesis, "r0")
    clock.now = 0.5
    assert mapping.poll() == 0  # read half a second ago: not yet
    clock.now = 1.0
    assert mapping.poll() == 1


def test_a_partial_failure_retries_from_the_earliest_failed_record_and_not_before(kinesis: Any) -> None:
    consumer, clock = Consumer(answers=[failed("r6", "r3")]), Clock()
    mapping = source(kinesis, consumer, clock)
    put(kinesis, *names(0, 9))
    assert mapping.poll(flush=True) == 10
    assert consumer.calls == [names(0, 9), names(3, 9)]
    assert consumer.failures == []


def test_a_response_naming_no_record_of_the_batch_fails_all_of_it(kinesis: Any) -> None:
    consumer = Consumer(answers=[{"batchItemFailures": [{"itemIdentifier": ""}]}, {"batchItemFailures": [{}]}])
    mapping = source(kinesis, consumer, Clock())
    put(kinesis, *names(0, 3))
    mapping.poll(flush=True)
    assert consumer.calls == [names(0, 3)] * 3


def test_an_exception_bisects_the_batch_until_the_bad_half_succeeds(kinesis: Any) -> None:
    def fails_with_r5_in_company(records: list[dict[str, Any]]) -> Any:
        data = [base64.b64decode(r["kinesis"]["data"]) for r in records]
        return RuntimeError("boom") if b"r5" in data and len(data) > 1 else None

    consumer, clock = Consumer(answers=[fails_with_r5_in_company] * 20), Clock()
    mapping = source(kinesis, consumer, clock)
    put(kinesis, *names(0, 7))
    assert mapping.poll(flush=True) == 8
    assert consumer.calls == [
        names(0, 7),
        names(0, 3),
        names(4, 7),
        names(4, 5),
        ["r4"],
        ["r5"],
        names(6, 7),
    ]
    assert consumer.failures == []


def test_after_max_retries_the_range_goes_to_the_failure_destination_and_the_shard_moves_on(kinesis: Any) -> None:
    consumer, clock = Consumer(answers=[failed("r4")] * 3), Clock()
    mapping = source(kinesis, consumer, clock, max_retries=2)
    put(kinesis, *names(0, 9))
    mapping.poll(flush=True)
    # The first try and two retries, each from the failed record on.
    assert consumer.calls == [names(0, 9), names(4, 9), names(4, 9)]
    (report,) = consumer.failures
    info = report["KinesisBatchInfo"]
    retried = consumer.sequences[-1]
    assert info["shardId"] == "shardId-000000000000"
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (retried[0], retried[-1])
    assert info["batchSize"] == 6
    assert info["streamArn"] == arn(kinesis)
    assert report["requestContext"]["condition"] == "retries exhausted"

    put(kinesis, "r10")
    mapping.poll(flush=True)
    assert consumer.calls[3:] == [["r10"]]  # next records go on; the given-up ones are not sent again


def test_errors_that_persist_are_reported_record_by_record_range_and_nothing_is_skipped(kinesis: Any) -> None:
    consumer, clock = Consumer(answers=[RuntimeError("down")] * 50), Clock()
    mapping = source(kinesis, consumer, clock, max_retries=2)
    put(kinesis, *names(0, 7))
    mapping.poll(flush=True)
    reported = []
    for message in consumer.failures:
        assert message["requestContext"]["condition"] == "function error"
        reported.append(message["KinesisBatchInfo"]["batchSize"])
    # Every record is in exactly one reported range: none was dropped unseen.
    assert sum(reported) == 8
    assert len(consumer.failures) >= 2


def test_when_the_failure_destination_is_down_the_batch_is_tried_again(kinesis: Any) -> None:
    consumer, clock = Consumer(answers=[failed("r0")] * 2), Clock()
    refused = []

    def destination_down(message: dict[str, Any]) -> None:
        refused.append(message)
        raise ConnectionError("queue unreachable")

    mapping = KinesisEventSource(
        kinesis=kinesis,
        stream_arn=arn(kinesis),
        handler=consumer,
        on_failure=destination_down,
        config=MappingConfig(max_retries=1),
        clock=clock,
    )
    put(kinesis, *names(0, 2))
    with pytest.raises(ConnectionError):
        mapping.poll(flush=True)
    assert len(refused) == 1
    # Not reported, so not skipped: the next poll hands the same records over again.
    assert mapping.poll(flush=True) == 3
    assert consumer.calls[-1] == names(0, 2)


def test_each_invocation_holds_one_shards_records_and_every_record_arrives(kinesis: Any) -> None:
    kinesis.delete_stream(StreamName=STREAM)
    kinesis.create_stream(StreamName=STREAM, ShardCount=2)
    consumer = Consumer()
    mapping = source(kinesis, consumer, Clock())
    for index in range(40):
        put(kinesis, f"r{index}", key=f"recording-{index}")
    assert mapping.poll(flush=True) == 40
    assert all(len(shards) == 1 for shards in consumer.shards)
    assert len(set().union(*consumer.shards)) == 2
    assert sorted(name for call in consumer.calls for name in call) == sorted(f"r{i}" for i in range(40))


def test_sequence_numbers_never_repeat_when_the_stream_is_created_again(kinesis: Any) -> None:
    def numbers(epoch: int) -> list[str]:
        seen: list[str] = []
        KinesisEventSource(
            kinesis=kinesis,
            stream_arn=arn(kinesis),
            handler=lambda event: seen.extend(r["kinesis"]["sequenceNumber"] for r in event["Records"]),
            on_failure=lambda _: None,
            epoch=epoch,
        ).poll(flush=True)
        return seen

    put(kinesis, "a", "b")
    before = numbers(1_700_000_000_000)
    # The local stack's stream after a restart: moto numbers its records from 1 again.
    kinesis.delete_stream(StreamName=STREAM)
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    put(kinesis, "c", "d")
    after = numbers(1_700_000_000_001)
    assert [n[-20:] for n in before] == [n[-20:] for n in after]  # moto's own numbers repeat...
    assert not set(before) & set(after)  # ...the mapping's do not
    assert [int(n) for n in before] == sorted(int(n) for n in before)
    assert int(after[0]) > int(before[-1])


def test_each_consumer_gets_only_the_records_its_filter_takes_and_moves_past_the_others(kinesis: Any) -> None:
    clock = Clock()
    unwatched, watched = Consumer(), Consumer()
    records = [{"seq": 0}, {"seq": 1, "live": True}, {"seq": 2, "live": False}, {"seq": 3, "live": True}, {"seq": 4}]
    put(kinesis, *(json.dumps(record) + "\n" for record in records))
    put(kinesis, "not json")
    sources = [
        source(kinesis, unwatched, clock, filter=UNWATCHED_FILTER),
        source(kinesis, watched, clock, filter=LIVE_FILTER),
    ]
    assert [s.poll(flush=True) for s in sources] == [2, 2]
    assert [[json.loads(line)["seq"] for line in call] for call in unwatched.calls] == [[0, 4]]
    assert [[json.loads(line)["seq"] for line in call] for call in watched.calls] == [[1, 3]]
    # Lambda discards what no filter takes: a record marked live: false, and data that is not JSON.
    clock.now += 10
    assert [s.poll() for s in sources] == [0, 0]


def test_filter_patterns_compare_json_types_and_presence() -> None:
    assert matches(LIVE_FILTER, b'{"live": true}\n')
    assert not matches(LIVE_FILTER, b'{"live": 1}')
    assert not matches(LIVE_FILTER, b'{"live": "true"}')
    assert not matches(LIVE_FILTER, b"{}")
    assert matches(UNWATCHED_FILTER, b'{"seq": 1}')
    assert not matches(UNWATCHED_FILTER, b'{"live": null}')
    assert not matches(UNWATCHED_FILTER, b"[1]")
    assert not matches(UNWATCHED_FILTER, b"\x1f\x8b")
    with pytest.raises(ValueError, match="not modelled"):
        matches({"data": {"live": [{"prefix": "t"}]}}, b'{"live": "true"}')


def test_an_invocation_stops_short_of_lambdas_six_mb_event_whatever_the_window(kinesis: Any) -> None:
    clock = Clock()
    consumer = Consumer()
    big = "x" * (900 * 1024)  # a record near Kinesis's 1 MiB: about 1.2 MB of event in base64
    for index in range(8):
        put(kinesis, f"{index}{big}")
    mapping = source(kinesis, consumer, clock, batching_window=300)
    # Well inside the window: the payload alone makes the batch due.
    assert mapping.poll() == 5
    assert [len(call) for call in consumer.calls] == [5]
    sizes = [sum((len(line) + 2) // 3 * 4 for line in call) for call in consumer.calls]
    assert all(size <= MAX_PAYLOAD_BYTES for size in sizes)
    clock.now += 300
    assert mapping.poll() == 3


def test_a_checkpoints_mark_is_handled_only_once_its_records_left_the_window(kinesis: Any) -> None:
    clock = Clock()
    consumer = Consumer()
    mapping = source(kinesis, consumer, clock, batching_window=60, filter=UNWATCHED_FILTER)
    put(kinesis, '{"seq": 0}', '{"seq": 1, "live": true}')
    marks = mapping.read_now()
    assert consumer.calls == [], "reading for a checkpoint invokes nothing"
    assert not mapping.handled(marks)
    clock.now += 59
    mapping.poll()
    assert not mapping.handled(marks), "the window is not cut short"
    put(kinesis, '{"seq": 2}')
    clock.now += 1
    assert mapping.poll() == 2  # both unwatched records, in one invocation
    assert mapping.handled(marks), "every record up to the mark was handled (the live one was the filter's)"
    put(kinesis, '{"seq": 3}')
    assert not mapping.handled(mapping.read_now())


def test_marks_of_two_checkpoints_are_handled_once_the_window_of_the_oldest_record_ends(kinesis: Any) -> None:
    clock = Clock()
    consumer = Consumer()
    mapping = source(kinesis, consumer, clock, batching_window=60, filter=UNWATCHED_FILTER)
    put(kinesis, '{"seq": 0}')
    first = mapping.read_now()
    clock.now += 30
    put(kinesis, '{"seq": 1}')
    second = mapping.read_now()
    assert not mapping.handled(first)
    assert not mapping.handled(second)
    clock.now += 30
    assert mapping.poll() == 2  # the window runs from the oldest record: both go together
    assert mapping.handled(first)
    assert mapping.handled(second)
