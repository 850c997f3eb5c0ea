"""No acknowledged loss, proven: every 2xx batch is read back exactly once, in order.

A client posts random batch sequences to recordings: retries, duplicates of batches
already acknowledged, out of order, plain or gzip (declared, undeclared, several
members, any level), each attempt at a seq possibly encoded differently, split into
several Kinesis records. Meanwhile every dependency fails the way AWS does:

- Kinesis PutRecords refuses some records (``ProvisionedThroughputExceededException``,
  ``InternalFailure``), throttles the whole call, or writes everything and answers 500;
- DynamoDB throttles or fails the POST's GetItem of the recording (a POST writes
  nothing there); the create's PutItem and GetItem fail the same way;
- the consumer (the delivery stream) fails mid-invocation, on GetRecords, on a
  PutObject after other objects were written (possibly after the object landed), or on
  its GetItem and UpdateItem of the recording's counts (before or after the count is
  applied), and is run again until an invocation succeeds;
- S3 answers the reader's ListObjectsV2 and GetObject with 500, 503 or SlowDown; the
  reader's caller retries the page. Responses may be cut into small pages (a smaller
  ``MAX_PAGE_BYTES``), so cursors land inside batches.

A call that raises (an ``ApiError`` such as 503, or a transient AWS error the API
answers with 503) is not acknowledged; only a returned 202 body is.

The property, per recording, after the consumer has delivered everything:

- every acknowledged seq is read back;
- the events read back are, for each seq read back, that batch's events exactly as
  sent, each once, batches in seq order;
- allowed extra: a seq never acknowledged may be read back too (its records reached
  the stream before the request failed, e.g. Kinesis took them and the answer was
  lost), but then it is whole and appears exactly once, like any other;
- the consumer's running counts count every seq read back, and each record of the
  stream at most once (a seq on the stream twice, in two invocations, is counted twice:
  ``eventCount`` and ``batchCount`` lie between the sums over the seqs read back and
  over every first part on the stream); compaction replaces them with exactly the sums
  over the seqs read back, and the recording reads back the same after it.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chalicelib import ingest as events
from chalicelib import records
from chalicelib import settings as api_settings
from chalicelib.compaction import Compactor
from chalicelib.consumer import FailureQueue, StreamConsumer, StreamRecord
from chalicelib.errors import ApiError, NotAcceptableError, ServiceUnavailableError, transient_aws_error
from chalicelib.ids import recording_key
from chalicelib.ingest import EventWriter
from chalicelib.reader import EventReader
from chalicelib.recording_table import RecordingTable
from chalicelib.recordings import Recordings
from local.event_source import KinesisEventSource, MappingConfig
from tests.support.faults import (
    DYNAMODB_FAULTS,
    KINESIS_INTERNAL,
    KINESIS_THROTTLED,
    S3_FAULTS,
    AwsFault,
    Faults,
    FlakyKinesis,
    FlakySession,
    ScriptedFaults,
    fail_after_calls,
    fail_calls,
)
from tests.support.in_process import NAMES

# About 40 s of one core: the parallel run starts it first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=40)

# Every attempt at a seq may be encoded differently: the stored bytes (and so the
# records' checksums) differ, the events do not.
ENCODINGS = (
    "json",
    "json sorted",
    "json spaced",
    "json indented",
    "json utf-8",
    "gzip level 1",
    "gzip level 9",
    "gzip undeclared",
    "gzip two members",
    "gzip sorted",
)
CONTENT_ENCODING = {
    "json": None,
    "json sorted": None,
    "json spaced": "identity",
    "json indented": None,
    "json utf-8": "Identity",
    "gzip level 1": "gzip",
    "gzip level 9": " GZIP",
    "gzip undeclared": None,
    "gzip two members": "gzip",
    "gzip sorted": "gzip",
}
TRANSACTION_CONFLICT = AwsFault(
    "TransactionConflictException", 400, "Transaction is ongoing for the item; retry the request."
)
_OWNERS = itertools.count()


def encode(document: dict[str, Any], encoding: str) -> tuple[bytes, str | None]:
    """A request body for ``document`` and its Content-Encoding header."""
    if encoding == "json spaced":
        text = json.dumps(document)
    elif encoding == "json indented":
        text = json.dumps(document, indent=1)
    elif encoding.endswith("sorted"):
        # Another serializer's key order: the same length, other bytes.
        text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    elif encoding == "json utf-8":
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(document, separators=(",", ":"))
    raw = text.encode()
    if encoding == "gzip level 1":
        raw = gzip.compress(raw, compresslevel=1, mtime=0)
    elif encoding in ("gzip level 9", "gzip undeclared"):
        raw = gzip.compress(raw, compresslevel=9, mtime=1)
    elif encoding == "gzip sorted":
        raw = gzip.compress(raw, compresslevel=6, mtime=7)
    elif encoding == "gzip two members":
        half = len(raw) // 2
        raw = gzip.compress(raw[:half], mtime=0) + gzip.compress(raw[half:], mtime=0)
    return raw, CONTENT_ENCODING[encoding]


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@st.composite
def batch_events(draw: Any, seq: int) -> list[dict[str, Any]]:
    """One batch's events; each names its seq and position, so what is read back can be told apart."""
    fields = draw(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 2**53 - 1), _TEXT), min_size=1, max_size=6))
    return [
        {"type": kind, "timestamp": timestamp, "data": {"seq": seq, "i": index, "text": text}}
        for index, (kind, timestamp, text) in enumerate(fields)
    ]


def assert_unavailable(exc: ApiError | ClientError) -> None:
    """A failed call must be one the API answers with 503: the client retries it."""
    status = exc.status if isinstance(exc, ApiError) else getattr(transient_aws_error(exc), "status", 500)
    assert status == 503, repr(exc)


@dataclass
class Recording:
    """What the client sends to one recording, and what it was told."""

    owner: str
    id: str
    batches: dict[int, list[dict[str, Any]]]
    attempted: set[int] = field(default_factory=set)
    acknowledged: set[int] = field(default_factory=set)


def table_of_its_own(aws: Any) -> Any:
    """The recordings table on a client of its own, for hooks that must not reach other callers."""
    return aws.resource("dynamodb").Table(NAMES.table)


class ConsumerRun:
    """The stream consumer behind a local event source mapping, both on faulty clients.

    A batch the mapping gives up on is not skipped here (on AWS it would go to the
    failure queue, to be rebuilt from the archive): the invocation fails, its records
    stay buffered, and the next invocation takes them again, as the property needs.
    """

    def __init__(self, session: Any, table: RecordingTable) -> None:
        consumer = StreamConsumer(
            s3=session.client("s3"),
            bucket=NAMES.bucket,
            table=table,
            failures=FailureQueue(sqs=None, queue_url=None),
            workers=1,
        )
        stream_arn = store_stream_arn(session)
        self.source = KinesisEventSource(
            kinesis=session.client("kinesis"),
            stream_arn=stream_arn,
            handler=lambda event: consumer.consume(StreamRecord.from_lambda(r) for r in event["Records"]).response(),
            on_failure=self._gave_up,
            config=MappingConfig(max_retries=2),
        )

    @staticmethod
    def _gave_up(message: dict[str, Any]) -> None:
        # As a failed invocation: the caller runs the consumer again.
        raise ServiceUnavailableError(f"consumer invocation failed: {message['requestContext']['condition']}")

    def deliver(self) -> int:
        """Poll every shard once and invoke for all it read."""
        return self.source.poll(flush=True)


def store_stream_arn(session: Any) -> str:
    """The stack's stream ARN."""
    client = session.unhooked.client("kinesis")
    return client.describe_stream_summary(StreamName=NAMES.stream)["StreamDescriptionSummary"]["StreamARN"]


class Rig:
    """The domain objects over moto, with faults on every client they call, and the client model."""

    def __init__(self, aws: Any, monkeypatch: pytest.MonkeyPatch, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self._monkeypatch = monkeypatch
        self._data: Any = None
        self._part_size = api_settings.MAX_PART_PAYLOAD_BYTES

        # The API's table: a POST reads with GetItem and writes nothing; a create
        # writes with PutItem.
        table = table_of_its_own(aws)
        dynamodb = table.meta.client
        fail_calls(dynamodb, "GetItem", lambda _: self.faults.pick("dynamodb GetItem", DYNAMODB_FAULTS))
        fail_calls(
            dynamodb,
            "PutItem",
            lambda _: self.faults.pick("dynamodb PutItem", [*DYNAMODB_FAULTS, TRANSACTION_CONFLICT]),
        )
        fail_after_calls(dynamodb, "PutItem", lambda: self.faults.pick("dynamodb PutItem applied", DYNAMODB_FAULTS[2:]))
        self.table = RecordingTable(table=table)
        self.s3 = aws.client("s3")
        self.recordings = Recordings(table=self.table, s3=self.s3, bucket=NAMES.bucket)
        self.kinesis = FlakyKinesis(aws.client("kinesis"), self.faults)
        self.writer = EventWriter(kinesis=self.kinesis, stream=NAMES.stream, sleep=lambda _: None)

        reader_s3 = aws.client("s3")
        for operation in ("ListObjectsV2", "GetObject"):
            # Cast: mypy cannot infer a lambda with more parameters (the bound site) than its context.
            decide = cast(
                Callable[[Any], AwsFault | None], lambda _, site=f"reader {operation}": self.faults.take(site)
            )
            fail_calls(reader_s3, operation, decide)
        self.reader = EventReader(s3=reader_s3, bucket=NAMES.bucket, workers=4)

        # The consumer's table: it reads the recording and writes its counts.
        consumer_table = table_of_its_own(aws)
        consumer_dynamodb = consumer_table.meta.client
        fail_calls(
            consumer_dynamodb, "GetItem", lambda _: self.faults.pick("consumer dynamodb GetItem", DYNAMODB_FAULTS)
        )
        fail_calls(
            consumer_dynamodb,
            "UpdateItem",
            lambda _: self.faults.pick("consumer dynamodb UpdateItem", [*DYNAMODB_FAULTS, TRANSACTION_CONFLICT]),
        )
        fail_after_calls(
            consumer_dynamodb,
            "UpdateItem",
            lambda: self.faults.pick("consumer dynamodb UpdateItem applied", DYNAMODB_FAULTS[2:]),
        )
        self.delivery = ConsumerRun(FlakySession(aws, self._consumer_faults), RecordingTable(table=consumer_table))
        # The truth, read without faults, and a compactor that works on it without faults.
        self.truth = aws.resource("dynamodb").Table(NAMES.table)
        self.kinesis_truth = aws.client("kinesis")
        # What the truth has read of the stream so far: it only grows, and every example reads it.
        self._stream_read: dict[str, str] = {}
        self._stream_parts: list[records.RecordPart] = []
        self.compaction_reader = EventReader(s3=aws.client("s3"), bucket=NAMES.bucket)
        self.compactor = Compactor(
            s3=aws.client("s3"),
            bucket=NAMES.bucket,
            table=RecordingTable(table=self.truth),
            reader=self.compaction_reader,
            idle_seconds=0,
        )

    def _consumer_faults(self, service: str, client: Any) -> None:
        if service == "kinesis":
            fail_calls(
                client,
                "GetRecords",
                lambda _: self.faults.pick("consumer GetRecords", [KINESIS_THROTTLED, KINESIS_INTERNAL]),
            )
        elif service == "s3":
            fail_calls(client, "PutObject", lambda _: self.faults.pick("consumer PutObject", S3_FAULTS))
            fail_after_calls(client, "PutObject", lambda: self.faults.pick("consumer PutObject landed", S3_FAULTS))

    # The client model.

    def begin(self, data: Any) -> None:
        # Whatever an example that stopped early left in the stream goes out first.
        self.faults.begin(None, rate=0)
        self.delivery.deliver()
        self._data = data
        self.faults.begin(data, rate=data.draw(st.sampled_from([0, 10, 25, 40]), label="fault rate"))
        self.configure(
            part_size=data.draw(st.integers(16, 256), label="part size"),
            # Fewer PutRecords attempts make a write that ends in 503 with only some of
            # its parts in the stream likelier (parts a retry's differently encoded
            # attempt must never be joined with).
            attempts=data.draw(st.sampled_from([1, 2, 4]), label="PutRecords attempts"),
            page_bytes=data.draw(st.sampled_from([api_settings.MAX_PAGE_BYTES, 2048, 256]), label="page bytes"),
        )

    def configure(self, *, part_size: int, attempts: int, page_bytes: int) -> None:
        """Record part size, PutRecords attempts and response page size."""
        self._part_size = part_size
        # Parts this small make many parts of a small batch; the most parts a record may
        # claim grows with them, as it is derived from the body limits at the real size.
        self._monkeypatch.setattr(records, "MAX_PARTS", math.ceil(records.MAX_PAYLOAD_BYTES / part_size))
        self.writer = EventWriter(kinesis=self.kinesis, stream=NAMES.stream, attempts=attempts, sleep=lambda _: None)
        self._monkeypatch.setattr(api_settings, "MAX_PAGE_BYTES", page_bytes)

    def _encoding(self, given: str | None) -> str:
        return given or self._data.draw(st.sampled_from(ENCODINGS), label="encoding")

    def _outcome(self, call: Any) -> Any:
        """The 202 body, or None for a request the API answered with an error (503)."""
        try:
            return call()
        except (ApiError, ClientError) as exc:
            assert_unavailable(exc)
        return None

    def _acknowledged(self, recording: Recording, seq: int, accepted: dict[str, Any]) -> None:
        expected = {"recording": recording.id, "seq": seq, "events": len(recording.batches[seq])}
        assert {key: accepted[key] for key in expected} == expected
        recording.acknowledged.add(seq)

    def create(self, recording: Recording, first: int | None, encoding: str | None = None) -> bool:
        """POST /recordings with the client's id, maybe carrying a first batch."""
        document: dict[str, Any] = {"id": recording.id, "url": "https://site.test/page"}
        if first is not None:
            document |= {"seq": first, "events": recording.batches[first]}
            recording.attempted.add(first)
        body, content_encoding = encode(document, self._encoding(encoding))
        result = self._outcome(
            lambda: events.create_recording(
                recordings=self.recordings,
                table=self.table,
                writer=self.writer,
                owner=recording.owner,
                body=body,
                content_encoding=content_encoding,
                part_size=self._part_size,
            )
        )
        if result is None:
            return False
        created, _ = result
        assert created["recording"]["id"] == recording.id
        if first is not None:
            self._acknowledged(recording, first, created["firstBatch"])
        return True

    def send(self, recording: Recording, seq: int, encoding: str | None = None) -> bool:
        """POST one batch; True when it was acknowledged."""
        recording.attempted.add(seq)
        body, content_encoding = encode({"seq": seq, "events": recording.batches[seq]}, self._encoding(encoding))
        accepted = self._outcome(
            lambda: events.ingest(
                table=self.table,
                writer=self.writer,
                owner=recording.owner,
                recording_id=recording.id,
                body=body,
                content_encoding=content_encoding,
                part_size=self._part_size,
            )
        )
        if accepted is None:
            return False
        self._acknowledged(recording, seq, accepted)
        return True

    def counts(self, recording: Recording) -> tuple[int, int]:
        """The recording's (eventCount, batchCount) as stored, read without faults."""
        key = recording_key(recording.owner, recording.id)
        item = self.truth.get_item(Key=key, ConsistentRead=True)["Item"]
        return int(item["eventCount"]), int(item["batchCount"])

    def first_parts(self, recording: Recording) -> list[records.RecordPart]:
        """The first part of every attempt at a batch of the recording that reached the stream.

        Each is one batch to the consumer's count: the most it may count.
        """
        return [
            part
            for part in self._stream_so_far()
            if (part.owner, part.recording, part.part) == (recording.owner, recording.id, 0)
        ]

    def _stream_so_far(self) -> list[records.RecordPart]:
        """Every ingest record on the stream, read without faults (each shard from where it was last read)."""
        for shard in self.kinesis_truth.list_shards(StreamName=NAMES.stream)["Shards"]:
            last = self._stream_read.get(shard["ShardId"])
            iterator = self.kinesis_truth.get_shard_iterator(
                StreamName=NAMES.stream,
                ShardId=shard["ShardId"],
                **(
                    {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": last}
                    if last
                    else {"ShardIteratorType": "TRIM_HORIZON"}
                ),
            )["ShardIterator"]
            while iterator:
                result = self.kinesis_truth.get_records(ShardIterator=iterator, Limit=10_000)
                for found in result["Records"]:
                    part = records.parse_record(found["Data"])
                    if part:
                        self._stream_parts.append(part)
                    self._stream_read[shard["ShardId"]] = found["SequenceNumber"]
                if not result["Records"]:
                    break
                iterator = result.get("NextShardIterator")
        return self._stream_parts

    def consume(self) -> None:
        """One consumer invocation; a failed one leaves its records in the stream for the next."""
        self._outcome(self.delivery.deliver)

    def consume_all(self) -> None:
        """Invoke the consumer until an invocation succeeds: everything in the stream is then in S3."""
        for _ in range(6):
            if self._outcome(self.delivery.deliver) is not None:
                return
        with self.faults.paused():
            self.delivery.deliver()

    def stored_attempts(self, recording: Recording) -> tuple[int, int, int]:
        """What the delivered records hold for the reader to keep apart.

        Incomplete attempts (a write refused after some of its parts were taken); seqs
        written by two attempts of as many parts; and incomplete attempts whose parts
        conflict with such a twin's beyond the gzip header, where joining parts of the
        two would corrupt the batch: the hardest case, which Hypothesis steers towards.
        """
        attempts: dict[tuple[int, str, int], dict[int, bytes]] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=NAMES.bucket, Prefix=f"recordings/owner={recording.owner}/recording={recording.id}/events/"
        )
        for entry in (entry for page in pages for entry in page.get("Contents", [])):
            body = self.s3.get_object(Bucket=NAMES.bucket, Key=entry["Key"])["Body"].read()
            for part in records.parse_object(body):
                # Past the header's time, flags and OS bytes, which no decoder checks.
                data = part.data[:4] + part.data[10:] if part.part == 0 else part.data
                attempts.setdefault((part.seq, part.crc, part.parts), {})[part.part] = data
        twins = {
            (key, other)
            for key in attempts
            for other in attempts
            if key[0] == other[0] and key[1] != other[1] and key[2] == other[2]
        }
        incomplete = {key for key, parts in attempts.items() if len(parts) < key[2]}
        conflicting = {
            key
            for key, other in twins
            if key in incomplete
            and any(data != attempts[other].get(index, data) for index, data in attempts[key].items())
        }
        return len(incomplete), len({key[0] for key, _ in twins}), len(conflicting)

    def read(self, recording: Recording, *, accept_gzip: bool) -> list[dict[str, Any]]:
        """Every event of the recording, page after page, retrying a page S3 failed."""
        out: list[dict[str, Any]] = []
        cursor = None
        for _ in range(1_000):
            try:
                page = self.reader.page(recording.owner, recording.id, cursor=cursor, accept_gzip=accept_gzip)
            except NotAcceptableError:
                accept_gzip = True  # an event larger than a plain page: ask again, with gzip
                continue
            except ClientError as exc:
                assert_unavailable(exc)  # the caller retries the page
                continue
            lines = (gzip.decompress(page.body) if page.gzip else page.body).splitlines()
            assert page.events == len(lines)
            out.extend(json.loads(line) for line in lines)
            cursor = page.next_cursor
            if cursor is None:
                return out
        raise AssertionError("paging never ended")


def assert_read_back_once(
    rig: Rig, recording: Recording, accept_gzip: bool, note: Callable[[str], None] = lambda _: None
) -> set[int]:
    """The property (see the module's docstring); returns the seqs read back.

    ``note`` hears of the rarer cases met (Hypothesis's ``event``, in a property test).
    """
    read = rig.read(recording, accept_gzip=accept_gzip)
    seqs_read = {item["data"]["seq"] for item in read}
    assert recording.acknowledged <= seqs_read, "an acknowledged batch was lost"
    assert seqs_read <= recording.attempted
    # Whole batches, each once, in seq order, as sent.
    assert read == [item for seq in sorted(seqs_read) for item in recording.batches[seq]]

    # The consumer's running counts: every seq read back, each stream record at most once.
    exact = (sum(len(recording.batches[seq]) for seq in seqs_read), len(seqs_read))
    on_stream = rig.first_parts(recording)
    most = (sum(part.events for part in on_stream), len(on_stream))
    assert exact[0] <= rig.counts(recording)[0] <= most[0]
    assert exact[1] <= rig.counts(recording)[1] <= most[1]
    if rig.counts(recording) != exact:
        note("running counts above the exact ones (a seq counted twice, or a part never completed)")

    # Compaction replaces them with the exact sums, and the recording reads the same.
    running = rig.counts(recording)
    result = rig.compactor.compact(recording.owner, recording.id)
    if result.outcome == "waiting":
        # Parts of an attempt the client gave up on (a refused write): never whole, so
        # compaction waits, and the running counts stay as they were.
        incomplete = rig.compaction_reader.contents(recording.owner, recording.id).incomplete
        assert incomplete
        assert incomplete <= recording.attempted - seqs_read
        assert rig.counts(recording) == running
        note("compaction waits for parts of an attempt never completed")
    else:
        # Nothing to fold when no batch reached the bucket: its counts stay (0, 0).
        assert (result.outcome, result.events) == ("compacted" if seqs_read else "unchanged", exact[0])
        assert rig.counts(recording) == exact
    assert rig.read(recording, accept_gzip=accept_gzip) == read
    return seqs_read


@pytest.fixture
def rig(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Rig:
    return Rig(aws, monkeypatch)


@st.composite
def recordings(draw: Any) -> list[Recording]:
    """One or two fresh recordings (so a consumer invocation writes several prefixes), each with its batches."""
    out = []
    for index in range(draw(st.integers(1, 2), label="recordings")):
        seqs = draw(st.lists(st.integers(0, api_settings.MAX_SEQ), min_size=1, max_size=5, unique=True))
        out.append(
            Recording(
                # A fresh owner per example; the same ids every time, so the records of a
                # replayed example land on the same shards and it draws the same faults.
                owner=f"owner-{next(_OWNERS)}",
                id=f"recording-{index}",
                batches={seq: draw(batch_events(seq)) for seq in seqs},
            )
        )
    return out


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_acknowledged_batch_is_read_back_exactly_once_in_order(rig: Rig, data: Any) -> None:
    rig.begin(data)
    plan = data.draw(recordings(), label="recordings")

    # A recorder starts with POST /recordings (its first batch maybe carried along),
    # retried until it gets an answer, and only then posts batches.
    for recording in plan:
        first = data.draw(st.one_of(st.none(), st.sampled_from(sorted(recording.batches))), label="first batch")
        for _ in range(6):
            if rig.create(recording, first):
                break
        else:
            with rig.faults.paused():
                assert rig.create(recording, first)

    # Sends in any order: retries of refused seqs, repeats of acknowledged ones, a
    # retried create, with consumer invocations in between.
    for _ in range(data.draw(st.integers(0, 16), label="steps")):
        recording = data.draw(st.sampled_from(plan), label="recording")
        action = data.draw(st.sampled_from(["send", "send", "send", "create again", "consume"]), label="action")
        if action == "send":
            rig.send(recording, data.draw(st.sampled_from(sorted(recording.batches)), label="seq"))
        elif action == "create again":
            rig.create(recording, data.draw(st.sampled_from(sorted(recording.batches)), label="seq"))
        else:
            rig.consume()

    # The client's last retries of what was never acknowledged; some it gives up on.
    for recording in plan:
        pending = sorted(set(recording.batches) - recording.acknowledged)
        for seq in data.draw(st.permutations(pending), label="retry order"):
            for _ in range(data.draw(st.integers(0, 3), label="retries")):
                if rig.send(recording, seq):
                    break

    rig.consume_all()

    # What the faults left in S3 for the reader to sort out (see --hypothesis-show-statistics).
    incomplete, twins, conflicting = (sum(counts) for counts in zip(*map(rig.stored_attempts, plan), strict=True))
    for name, count in (("incomplete", incomplete), ("twin", twins), ("conflicting incomplete", conflicting)):
        if count:
            event(f"delivered: {name} attempt")

    for recording in plan:
        reader_faults = st.lists(st.sampled_from([None, *S3_FAULTS]), max_size=6 if rig.faults.active else 0)
        rig.faults.queue(data.draw(reader_faults, label="reader faults"))
        seqs_read = assert_read_back_once(rig, recording, data.draw(st.booleans(), label="accept gzip"), event)
        if seqs_read - recording.acknowledged:
            event("a batch never acknowledged was read back (once)")
        if set(recording.batches) - seqs_read:
            event("a batch never acknowledged was not read back")

    for fault in rig.faults.injected:
        event(f"fault: {fault}")


def test_parts_of_a_refused_write_are_never_joined_with_a_retry_of_other_bytes(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rare corner of the property above, made certain.

    A write the stream takes only partly (a part refused, then the writer's retry of
    that part throttled as a whole) is answered 503; the client's retry of that seq is
    serialized with another key order: bytes of the same length and as many parts, but
    other parts. Joining the refused write's parts with the retry's would corrupt the
    batch.
    """
    # GetItem, then PutRecords (one part refused), then its retry (the call
    # throttled); nothing fails after that.
    faults = ScriptedFaults([None, FlakyKinesis.PARTIAL, {1}, KINESIS_THROTTLED, FlakyKinesis.THROTTLED])
    rig = Rig(aws, monkeypatch, faults)
    rig.configure(part_size=48, attempts=1, page_bytes=api_settings.MAX_PAGE_BYTES)
    events_ = [{"type": 3, "timestamp": 1000 + i, "data": {"seq": 7, "i": i, "text": "x" * i}} for i in range(6)]
    recording = Recording(owner=f"owner-{next(_OWNERS)}", id="recording-0", batches={7: events_})
    with faults.paused():
        assert rig.create(recording, None, "json")
    assert not rig.send(recording, 7, "json")
    assert rig.send(recording, 7, "json sorted")
    rig.consume_all()
    assert rig.stored_attempts(recording) == (1, 1, 1)  # the corner was reached
    assert assert_read_back_once(rig, recording, accept_gzip=True) == {7}
