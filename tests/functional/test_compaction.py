"""Compaction: an idle recording becomes one object of plain rrweb events, losing nothing.

A crash after any step, a rerun, a race with another run or with a reader, events that
arrive late or twice: the recording reads back the same, every event once, in order.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import layout, records, settings
from chalicelib.aws import get_services
from chalicelib.compaction import Compactor
from chalicelib.consumer import write_chunk
from chalicelib.ids import recording_key
from chalicelib.reader import EventReader
from chalicelib.recording_table import RecordingTable
from chalicelib.schema import ACTIVE_ATTRIBUTE, PENDING_ATTRIBUTE, RECORDINGS_KEY, TTL_ATTRIBUTE
from tests.functional.test_consumer import batch, invoke, shard_records
from tests.support.http import create_recording, post_json, read_events
from tests.support.in_process import NAMES

# About 25 s of one core: the parallel run starts it first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=25)


def events_path(recording_id: str) -> str:
    return f"/recordings/{recording_id}/events"


def raw_events(client: Any, recording_id: str) -> bytes:
    """The JSON lines GET /events serves, every page, exactly as sent."""
    out = b""
    cursor = None
    while True:
        path = events_path(recording_id) + (f"?after={cursor}" if cursor else "")
        response = client.get(path, headers={"Accept": "*/*", "Accept-Encoding": "gzip"})
        assert response.status_code == 200, response.body
        out += gzip.decompress(response.body) if response.headers.get("Content-Encoding") == "gzip" else response.body
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return out


def expected_lines(*seqs: int) -> bytes:
    """What the events of ``batch(seq)`` read back as, one compact JSON line each."""
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for seq in seqs for e in batch(seq)["events"])


def send(client: Any, recording_id: str, *seqs: int, deliver: Callable[[], int] | None = None) -> None:
    """POST each batch (compact JSON, as the recorder sends it), delivering after each when asked."""
    for seq in seqs:
        body = json.dumps(batch(seq), separators=(",", ":"))
        response = client.post(events_path(recording_id), body=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 202, response.body
        if deliver is not None:
            deliver()


def keys_of(owner: str, recording_id: str, bucket_keys: Callable[[str], list[str]]) -> dict[str, list[str]]:
    """A recording's event objects: chunks, compacted data and indexes."""
    out: dict[str, list[str]] = {"chunks": [], "data": [], "indexes": []}
    for key in bucket_keys(layout.events_prefix(owner, recording_id)):
        generation = layout.compacted_generation(key)
        out["chunks" if generation is None else "indexes" if generation[1] else "data"].append(key)
    return out


def item(owner: str, recording_id: str) -> dict[str, Any]:
    found = get_services().metadata.get_any(owner, recording_id)
    assert found is not None
    return found


def counts(client: Any, recording_id: str) -> tuple[int, int]:
    """The recording's (eventCount, batches), as GET /recordings/{id} shows them."""
    body = client.get(f"/recordings/{recording_id}").json_body
    return body["eventCount"], body["batches"]


def fresh_read(client: Any, recording_id: str) -> bytes:
    """Read as a new Lambda would: nothing cached from before."""
    get_services().events.cache.clear()
    return raw_events(client, recording_id)


def assert_compacted(owner: str, recording_id: str, bucket_keys: Any, *, generation: int) -> None:
    """One generation (its data and index), no chunk, out of the pending index."""
    keys = keys_of(owner, recording_id, bucket_keys)
    assert keys["chunks"] == []
    assert keys["indexes"] == [layout.compacted_index_key(owner, recording_id, generation)]
    assert len(keys["data"]) == 1
    assert layout.compacted_generation(keys["data"][0]) == (generation, False)
    current = item(owner, recording_id)
    assert PENDING_ATTRIBUTE not in current
    assert int(current["compactedGeneration"]) == generation


def test_an_idle_recording_becomes_one_object_of_its_events_read_in_one_round_trip(
    client: Any, deliver: Any, owner: str, aws: Any, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 2, 0, 1, 4, 3, deliver=deliver)
    before = fresh_read(client, recording_id)
    assert before == expected_lines(0, 1, 2, 3, 4)
    assert len(keys_of(owner, recording_id, bucket_keys)["chunks"]) == 5

    result = get_services().compactor.compact(owner, recording_id)
    assert (result.outcome, result.generation, result.events, result.folded) == ("compacted", 1, 10, 5)
    assert_compacted(owner, recording_id, bucket_keys, generation=1)
    assert client.get(f"/recordings/{recording_id}").json_body["compacted"] is True
    assert counts(client, recording_id) == (10, 5)

    calls: list[str] = []
    get_services().s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    assert fresh_read(client, recording_id) == before  # byte for byte
    assert calls.count("GetObject") == 2  # the index and the data, fetched together
    # The object is an export as it stands: plain gzip of the events' JSON lines.
    data_key = keys_of(owner, recording_id, bucket_keys)["data"][0]
    body = aws.client("s3").get_object(Bucket=NAMES.bucket, Key=data_key)["Body"].read()
    assert gzip.decompress(body) == before


def test_objects_the_earlier_firehose_path_wrote_are_read_in_order_and_compacted(
    client: Any, aws: Any, owner: str, bucket_keys: Any
) -> None:
    # Before the stream consumer, Firehose partitioned the stream by recording into the
    # same prefix: objects named by its delivery stream and time, GZIP, one record a line.
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1)
    shard, earlier = next(iter(shard_records(aws).items()))
    old_key = layout.events_prefix(owner, recording_id) + "rrweb-dev-delivery-1-2026-11-20-10-00-00-3f1c9a2e.gz"
    body = gzip.compress(b"".join(record["Data"] for record in earlier))
    aws.client("s3").put_object(Bucket=NAMES.bucket, Key=old_key, Body=body)
    send(client, recording_id, 2)
    later = [record for record in shard_records(aws)[shard] if record not in earlier]
    assert invoke(aws, shard, later) == {"batchItemFailures": []}
    assert len(keys_of(owner, recording_id, bucket_keys)["chunks"]) == 2

    assert fresh_read(client, recording_id) == expected_lines(0, 1, 2)
    result = get_services().compactor.compact(owner, recording_id)
    assert (result.outcome, result.events) == ("compacted", 6)
    assert old_key not in bucket_keys(layout.events_prefix(owner, recording_id))
    assert fresh_read(client, recording_id) == expected_lines(0, 1, 2)


class CrashedError(Exception):
    """The process died here (a Lambda timeout, a kill)."""


class Crashing:
    """A client (or table) whose ``at``-th call of ``method`` (each, when None) dies before or after it takes effect.

    Calls may come from several threads (compaction deletes its keys concurrently): the
    others go on, as S3 carries out requests already sent when the caller disappears.
    """

    def __init__(self, real: Any, *, method: str, at: int | None, after: bool = False) -> None:
        self._real = real
        self._method = method
        self._at = at
        self._after = after
        self._lock = threading.Lock()
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if name != self._method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
                number = self.calls
            if self._at is not None and number != self._at:
                return attribute(*args, **kwargs)
            if self._after:
                attribute(*args, **kwargs)
            raise CrashedError(f"{name} #{self._at}")

        return call


def compactor(*, s3: Any = None, table: Any = None, clock: Callable[[], int] | None = None, idle: int = 0) -> Compactor:
    """A compactor of the test stack over the given (maybe crashing) clients, with its own reader."""
    services = get_services()
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return Compactor(
        s3=s3 or services.s3,
        bucket=NAMES.bucket,
        table=RecordingTable(table=table or services.metadata.table),
        reader=EventReader(s3=services.s3, bucket=NAMES.bucket),
        idle_seconds=idle,
        **extra,
    )


# Compacting generation 2 (generation 1 plus two newer chunks) calls, in order: UpdateItem
# (count the run), PutObject (data), GetObject (verify), PutObject (index), DeleteObject
# for each of four keys, concurrently (two chunks, the old data and index), UpdateItem
# (leave the pending index). Generation 1 (from two chunks) makes the same calls, with
# two keys to delete. A crash at the nth delete leaves at least n - 1 keys deleted.
STEPS = {
    "before-put-data": {"method": "put_object", "at": 1},
    "after-put-data": {"method": "put_object", "at": 1, "after": True},
    "during-verify": {"method": "get_object", "at": 1},
    "before-commit": {"method": "put_object", "at": 2},
    "after-commit": {"method": "put_object", "at": 2, "after": True},
    **{f"after-{n}-deletes": {"method": "delete_object", "at": n + 1} for n in range(4)},
    "after-4-deletes": {"method": "delete_object", "at": 4, "after": True},
    "before-counting-the-run": {"method": "update_item", "at": 1, "table": True},
    "after-counting-the-run": {"method": "update_item", "at": 1, "table": True, "after": True},
    "before-finish": {"method": "update_item", "at": 2, "table": True},
    "after-finish": {"method": "update_item", "at": 2, "table": True, "after": True},
}
CRASHES = [
    *[pytest.param(2, step, id=f"gen2-{name}") for name, step in STEPS.items()],
    *[
        pytest.param(1, STEPS[name], id=f"gen1-{name}")
        for name in ("after-put-data", "during-verify", "after-commit", "after-1-deletes", "after-finish")
    ],
]


@pytest.mark.parametrize(("generation", "crash"), CRASHES)
def test_a_crash_after_any_step_loses_nothing_and_a_rerun_finishes(
    client: Any, deliver: Any, owner: str, bucket_keys: Any, generation: int, crash: dict[str, Any]
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    if generation == 2:
        assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    send(client, recording_id, 3, 2, deliver=deliver)
    expected = expected_lines(0, 1, 2, 3)
    assert fresh_read(client, recording_id) == expected

    crash = dict(crash)
    on_table = crash.pop("table", False)
    services = get_services()
    dying = Crashing(services.metadata.table if on_table else services.s3, **crash)
    clients: dict[str, Any] = {"table": dying} if on_table else {"s3": dying}
    with pytest.raises(CrashedError):
        compactor(**clients).compact(owner, recording_id)
    assert fresh_read(client, recording_id) == expected

    assert get_services().compactor.compact(owner, recording_id).outcome in ("compacted", "unchanged")
    assert_compacted(owner, recording_id, bucket_keys, generation=generation)
    assert fresh_read(client, recording_id) == expected
    # ...and a run after that finds nothing to do.
    assert get_services().compactor.compact(owner, recording_id).outcome == "unchanged"
    assert_compacted(owner, recording_id, bucket_keys, generation=generation)
    assert fresh_read(client, recording_id) == expected


def test_events_after_compaction_are_read_beside_it_and_folded_by_the_next(
    client: Any, deliver: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    get_services().compactor.compact(owner, recording_id)
    send(client, recording_id, 2, deliver=deliver)
    assert fresh_read(client, recording_id) == expected_lines(0, 1, 2)
    assert PENDING_ATTRIBUTE in item(owner, recording_id)
    assert client.get(f"/recordings/{recording_id}").json_body["compacted"] is False
    result = get_services().compactor.compact(owner, recording_id)
    assert (result.outcome, result.generation, result.events, result.folded) == ("compacted", 2, 6, 1)
    assert_compacted(owner, recording_id, bucket_keys, generation=2)
    assert fresh_read(client, recording_id) == expected_lines(0, 1, 2)


def test_a_late_repeat_of_a_compacted_batch_is_dropped(client: Any, deliver: Any, owner: str, bucket_keys: Any) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    get_services().compactor.compact(owner, recording_id)
    # Kinesis redelivers seq 1 (at least once), long after it was compacted.
    payload = gzip.compress(json.dumps(batch(1), separators=(",", ":")).encode())
    get_services().writer.put(
        records.build_records(owner=owner, recording=recording_id, seq=1, payload=payload, received=1, events=2),
        partition_key=recording_id,
    )
    deliver()
    assert len(keys_of(owner, recording_id, bucket_keys)["chunks"]) == 1
    assert fresh_read(client, recording_id) == expected_lines(0, 1)
    assert PENDING_ATTRIBUTE in item(owner, recording_id)  # its chunk must go some day
    # A copy in another invocation is counted again, until compaction...
    assert counts(client, recording_id) == (6, 3)
    result = get_services().compactor.compact(owner, recording_id)
    assert result.outcome == "unchanged"  # nothing new: no generation rewritten for a repeat
    assert_compacted(owner, recording_id, bucket_keys, generation=1)
    assert fresh_read(client, recording_id) == expected_lines(0, 1)
    assert counts(client, recording_id) == (4, 2)  # ...replaces the counts with exact ones


@pytest.mark.parametrize("batch_between", [False, True], ids=["same-object", "other-object"])
def test_two_compactors_racing_lose_no_event_and_leave_one_generation(
    client: Any, deliver: Any, owner: str, bucket_keys: Any, batch_between: bool
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    services = get_services()
    outcomes: list[str] = []

    class RunsOtherFirst:
        """S3 for compactor A: (a new batch lands and) compactor B runs whole just before A commits."""

        def __init__(self) -> None:
            self.puts = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(services.s3, name)

        def put_object(self, **kwargs: Any) -> Any:
            self.puts += 1
            if self.puts == 2:  # A's commit; B lists A's data object, not yet committed
                if batch_between:
                    send(client, recording_id, 2, deliver=deliver)
                outcomes.append(compactor().compact(owner, recording_id).outcome)
            return services.s3.put_object(**kwargs)

    outcomes.insert(0, compactor(s3=RunsOtherFirst()).compact(owner, recording_id).outcome)
    assert outcomes == ["raced", "compacted"]
    assert_compacted(owner, recording_id, bucket_keys, generation=1)  # A's object, if other, does not linger
    expected = expected_lines(0, 1, 2) if batch_between else expected_lines(0, 1)
    assert fresh_read(client, recording_id) == expected


def test_a_loser_whose_object_was_written_after_the_winner_listed_removes_it(
    client: Any, deliver: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, deliver=deliver)
    loser = compactor()
    listing = loser.reader.objects.listing(owner, recording_id)
    loser.reader.contents(owner, recording_id, listing)  # it has read seq 0's chunk
    send(client, recording_id, 1, deliver=deliver)
    assert compactor().compact(owner, recording_id).outcome == "compacted"  # folds seqs 0 and 1
    # The loser goes on from its older listing (seq 0 only: another object), and loses.
    loser.reader.objects.listing = lambda *_: listing  # type: ignore[method-assign]
    assert loser.compact(owner, recording_id).outcome == "raced"
    assert_compacted(owner, recording_id, bucket_keys, generation=1)
    assert fresh_read(client, recording_id) == expected_lines(0, 1)


def test_folded_chunks_removed_between_the_listing_and_the_read_are_not_missed(
    client: Any, deliver: Any, owner: str, aws: Any, bucket_keys: Any
) -> None:
    # Compaction committed but had not deleted its chunks when a reader listed; they
    # go while the reader fetches the index, the data and the chunks together.
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, 2, deliver=deliver)
    s3 = Crashing(get_services().s3, method="delete_object", at=None)
    with pytest.raises(CrashedError):
        compactor(s3=s3).compact(owner, recording_id)
    reader = EventReader(s3=get_services().s3, bucket=NAMES.bucket)
    listing = reader.objects.listing(owner, recording_id)
    assert listing.index_key is not None
    assert len(listing.chunks) == 3
    for key in listing.chunks:
        aws.client("s3").delete_object(Bucket=NAMES.bucket, Key=key)
    contents = reader.contents(owner, recording_id, listing)  # no relisting: what it names
    assert contents.seqs() == [0, 1, 2]
    assert contents.batches == {}
    # A chunk the index does not name, gone meanwhile, is an error (a reader lists again).
    send(client, recording_id, 3, deliver=deliver)
    listing = reader.objects.listing(owner, recording_id)
    (newer,) = listing.chunks
    aws.client("s3").delete_object(Bucket=NAMES.bucket, Key=newer)
    with pytest.raises(get_services().s3.exceptions.NoSuchKey):
        reader.contents(owner, recording_id, listing)


def test_a_compactor_that_listed_before_another_committed_deletes_nothing_it_should_not(
    client: Any, deliver: Any, owner: str, bucket_keys: Any
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, deliver=deliver)
    services = get_services()
    late = compactor()
    listing = late.reader.objects.listing(owner, recording_id)  # A lists...
    assert compactor().compact(owner, recording_id).outcome == "compacted"  # ...B compacts meanwhile...
    send(client, recording_id, 2, deliver=deliver)
    late.reader.objects.listing = lambda *_: listing  # type: ignore[method-assign]  # ...A goes on with its old listing
    with contextlib.suppress(services.s3.exceptions.NoSuchKey):
        late.compact(owner, recording_id)  # the chunks it listed are gone: it stops, deleting nothing
    assert fresh_read(client, recording_id) == expected_lines(0, 1, 2)
    assert compactor().compact(owner, recording_id).outcome == "compacted"
    assert_compacted(owner, recording_id, bucket_keys, generation=2)
    assert fresh_read(client, recording_id) == expected_lines(0, 1, 2)


def test_a_read_that_listed_just_before_compaction_still_returns_every_event(
    client: Any, deliver: Any, owner: str, aws: Any
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, 2, deliver=deliver)
    reader = EventReader(s3=aws.client("s3"), bucket=NAMES.bucket)  # another Lambda, cold
    compacted_during: list[str] = []
    started: list[bool] = []

    def compact_first(**_: Any) -> None:
        if not started:  # once (the compactor's own reads pass here too)
            started.append(True)
            compacted_during.append(get_services().compactor.compact(owner, recording_id).outcome)

    reader.objects.s3.meta.events.register("before-call.s3.GetObject", compact_first)
    page = reader.page(owner, recording_id, cursor=None, accept_gzip=False)
    assert compacted_during == ["compacted"]
    assert page.body == expected_lines(0, 1, 2)


def test_run_finds_idle_recordings_through_the_index_and_skips_recent_ones(
    client: Any, deliver: Any, owner: str, bucket_keys: Any
) -> None:
    idle_id = create_recording(client)
    busy_id = create_recording(client)
    # Its index entry (``activeAt``, refreshed now and then) says idle; its last count
    # (``updatedAt``) says otherwise.
    stale_id = create_recording(client)
    for recording_id in (idle_id, busy_id, stale_id):
        send(client, recording_id, 0, deliver=deliver)
    now = int(item(owner, busy_id)["updatedAt"])
    services = get_services()
    for recording_id, attributes in (
        (idle_id, (ACTIVE_ATTRIBUTE, "updatedAt")),
        (stale_id, (ACTIVE_ATTRIBUTE,)),
    ):
        services.metadata.table.update_item(
            Key=recording_key(owner, recording_id),
            UpdateExpression="SET " + ", ".join(f"{name} = :t" for name in attributes),
            ExpressionAttributeValues={":t": now - 3_600_000},
        )
    calls: list[str] = []
    services.dynamodb.meta.client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    counts = compactor(clock=lambda: now + 1000, idle=1800).run()
    assert counts == {"compacted": 1, "waiting": 1}
    assert calls.count("Query") == settings.COMPACTION_SHARDS
    assert "Scan" not in calls
    assert set(calls) <= {"Query", "GetItem", "UpdateItem"}
    assert_compacted(owner, idle_id, bucket_keys, generation=1)
    for recording_id in (busy_id, stale_id):
        assert PENDING_ATTRIBUTE in item(owner, recording_id)
        assert keys_of(owner, recording_id, bucket_keys)["indexes"] == []


def post_in_parts(owner: str, recording_id: str, big: dict[str, Any]) -> None:
    """Batch 0 as one record, then ``big`` split into records of 40 payload bytes."""
    from chalicelib import ingest

    services = get_services()
    for body, part_size in ((batch(0), 4096), (big, 40)):
        ingest.ingest(
            table=services.metadata,
            writer=services.writer,
            owner=owner,
            recording_id=recording_id,
            body=json.dumps(body).encode(),
            content_encoding=None,
            part_size=part_size,
        )


def test_a_batch_with_parts_still_in_flight_is_not_folded(client: Any, aws: Any, owner: str, bucket_keys: Any) -> None:

    recording_id = create_recording(client)
    big = {
        "seq": 1,
        "events": [{"type": 2, "timestamp": 5, "data": {"text": "z" * 50 + bytes(range(48, 122)).decode()}}],
    }
    post_in_parts(owner, recording_id, big)
    [(shard, found)] = shard_records(aws).items()
    assert len(found) >= 3
    invoke(aws, shard, found[:-1])  # the last part has not arrived yet
    result = get_services().compactor.compact(owner, recording_id)
    assert result.outcome == "waiting"
    keys = keys_of(owner, recording_id, bucket_keys)
    assert (len(keys["chunks"]), keys["indexes"], keys["data"]) == (1, [], [])
    assert PENDING_ATTRIBUTE in item(owner, recording_id)
    invoke(aws, shard, found[-1:])
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    assert_compacted(owner, recording_id, bucket_keys, generation=1)
    lines = fresh_read(client, recording_id).splitlines()
    assert [json.loads(line) for line in lines] == batch(0)["events"] + big["events"]


def test_parts_whose_siblings_can_no_longer_arrive_stop_holding_compaction_back(
    client: Any, aws: Any, owner: str, bucket_keys: Any
) -> None:
    from chalicelib import settings
    from chalicelib.compaction import Compactor
    from chalicelib.settings import get_settings

    recording_id = create_recording(client)
    services = get_services()
    big = {"seq": 1, "events": [{"type": 2, "timestamp": 5, "data": {"text": "y" * 300}}]}
    post_in_parts(owner, recording_id, big)
    [(shard, found)] = shard_records(aws).items()
    invoke(aws, shard, found[:-1])  # the last part was refused: its client got a 503, then gave up

    def compactor(days: float) -> Compactor:
        later = int(time.time() * 1000 + days * 86_400_000)
        return Compactor(
            s3=services.s3,
            bucket=get_settings().bucket,
            table=services.metadata,
            reader=services.events,
            clock=lambda: later,
        )

    week = settings.ABANDONED_PARTS_SECONDS / 86400
    assert compactor(week - 0.01).compact(owner, recording_id).outcome == "waiting"
    assert compactor(week + 0.01).compact(owner, recording_id).outcome == "compacted"
    assert_compacted(owner, recording_id, bucket_keys, generation=1)
    lines = fresh_read(client, recording_id).splitlines()
    assert [json.loads(line) for line in lines] == batch(0)["events"]
    assert client.get(f"/recordings/{recording_id}").json_body["batches"] == 1


def test_a_deleted_recording_is_gone(client: Any, deliver: Any, owner: str) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, deliver=deliver)
    assert client.delete(f"/recordings/{recording_id}").status_code == 204
    assert get_services().compactor.compact(owner, recording_id).outcome == "gone"


def expire_tombstone(owner: str, recording_id: str) -> None:
    """What DynamoDB's TTL does in time: a deleted recording's tombstone goes, and its id is free again."""
    table = get_services().metadata.table
    tombstone = item(owner, recording_id)
    assert set(tombstone) == {RECORDINGS_KEY, "owner", "recordingId", "deleting", TTL_ATTRIBUTE}
    assert tombstone[TTL_ATTRIBUTE] >= tombstone["deleting"] // 1000 + settings.TOMBSTONE_SECONDS
    table.delete_item(Key={RECORDINGS_KEY: tombstone[RECORDINGS_KEY]})


def test_a_recording_made_again_with_a_deleted_ones_id_never_shows_the_old_events(
    client: Any, deliver: Any, owner: str
) -> None:
    recording_id = create_recording(client, id="reused-id-0001")
    send(client, recording_id, 0, 1, deliver=deliver)
    get_services().compactor.compact(owner, recording_id)
    assert raw_events(client, recording_id) == expected_lines(0, 1)  # warms this process's cache
    assert client.delete(f"/recordings/{recording_id}").status_code == 204
    # The id stays taken while the deleted recording's tombstone lives (longer than the stream keeps a record)...
    again = post_json(client, "/recordings", {"id": recording_id})
    assert (again.status_code, again.json_body["error"]["code"]) == (409, "id_in_use")
    # ...and can be made again once DynamoDB's TTL has removed the tombstone.
    expire_tombstone(owner, recording_id)
    assert create_recording(client, id="reused-id-0001") == recording_id
    send(client, recording_id, 5, deliver=deliver)
    get_services().compactor.compact(owner, recording_id)
    assert raw_events(client, recording_id) == expected_lines(5)


def test_a_retried_invocation_with_more_records_than_a_compacted_first_attempt_loses_none(
    client: Any, aws: Any, owner: str
) -> None:
    """Lambda retries from a checkpoint and may bring records the first attempt did not have."""
    recording_id = create_recording(client)
    send(client, recording_id, 0)
    [(shard, first)] = shard_records(aws).items()
    invoke(aws, shard, first)
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    send(client, recording_id, 1)
    [(_, again)] = shard_records(aws).items()
    assert len(again) == 2
    invoke(aws, shard, again)  # starts at the same record as the compacted first attempt
    assert fresh_read(client, recording_id) == expected_lines(0, 1)
    get_services().compactor.compact(owner, recording_id)
    assert fresh_read(client, recording_id) == expected_lines(0, 1)


def poison_line(owner: str, recording_id: str, seq: int, case: str) -> bytes:
    """One line of a chunk that is not what the API writes, as a stream record or a rebuild could bring it."""
    good = json.dumps(batch(seq), separators=(",", ":")).encode()
    if case == "not-json":
        return b"\x00garbage, not a record\n"
    if case == "a-list":
        return b'["x"]\n'
    (line,) = records.build_records(
        owner=owner, recording=recording_id, seq=seq, payload=gzip.compress(good), received=1, events=2
    )
    value = json.loads(line)
    if case == "payload-not-gzip":
        value["data"] = base64.b64encode(good).decode()
    elif case == "payload-a-list":
        value["data"] = base64.b64encode(gzip.compress(b'["x"]')).decode()
    elif case == "payload-inflating-past-a-batch":
        value["data"] = base64.b64encode(gzip.compress(b" " * (settings.MAX_BATCH_BYTES + 1), 9)).decode()
    elif case == "a-million-parts":
        value["parts"] = 1_000_000
    elif case == "seq-a-string":
        value["seq"] = str(seq)
    elif case == "owner-a-number":
        value["owner"] = 7
    elif case == "data-not-base64":
        value["data"] = "%%%"
    return json.dumps(value).encode() + b"\n"


POISON = [
    "not-json",
    "a-list",
    "payload-not-gzip",
    "payload-a-list",
    "payload-inflating-past-a-batch",
    "a-million-parts",
    "seq-a-string",
    "owner-a-number",
    "data-not-base64",
]


@pytest.mark.parametrize("case", POISON)
def test_a_malformed_record_is_skipped_where_it_is_read_and_its_recording_stays_readable_and_compactable(
    client: Any, deliver: Any, owner: str, bucket_keys: Any, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, deliver=deliver)
    # A chunk holding the poison between two good batches (a rebuild, or a consumer
    # older than its checks, could have written it).
    good = [
        records.build_records(
            owner=owner,
            recording=recording_id,
            seq=seq,
            payload=gzip.compress(json.dumps(batch(seq), separators=(",", ":")).encode()),
            received=1,
            events=2,
        )[0]
        for seq in (1, 3)
    ]
    write_chunk(
        s3=get_services().s3,
        bucket=NAMES.bucket,
        item=item(owner, recording_id),
        name="archive-poison",
        lines=[good[0], poison_line(owner, recording_id, 2, case), good[1]],
    )
    get_services().metadata.reschedule_compaction(owner, recording_id)
    caplog.set_level("WARNING", logger="rrweb.reader")

    assert fresh_read(client, recording_id) == expected_lines(0, 1, 3)
    skipped = [r for r in caplog.records if r.name == "rrweb.reader" and "skipped" in r.getMessage()]
    assert skipped, "the skipped record is logged"
    where = skipped[0].__dict__
    assert where.get("object", "").endswith("archive-poison.gz") or any(
        key.endswith("archive-poison.gz") for key, _ in where.get("records", [])
    )

    result = get_services().compactor.compact(owner, recording_id)
    assert (result.outcome, result.skipped) == ("compacted", 1)
    assert_compacted(owner, recording_id, bucket_keys, generation=1)
    assert fresh_read(client, recording_id) == expected_lines(0, 1, 3)
    assert counts(client, recording_id) == (6, 3)


class DiesOnWriting:
    """S3 for a compactor: writing the victim's data object fails with ``error`` (the rest goes through)."""

    def __init__(self, victim: str, error: BaseException) -> None:
        self.victim = victim
        self.error = error

    def __getattr__(self, name: str) -> Any:
        return getattr(get_services().s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        if f"recording={self.victim}/" in kwargs["Key"] and layout.compacted_generation(kwargs["Key"]) == (1, False):
            raise self.error
        return get_services().s3.put_object(**kwargs)


def test_a_recording_that_cannot_be_compacted_is_set_aside_with_its_reason_and_never_blocks_its_shard(
    client: Any, deliver: Any, owner: str, bucket_keys: Any
) -> None:
    from chalicelib.compaction import COMPACTION_TRIES
    from chalicelib.ids import compaction_shard, now_ms

    # Two recordings in one shard, the one that cannot be compacted first in line.
    ids = [f"rec-shard-{n:04d}" for n in range(400)]
    victim = ids[0]
    others = [i for i in ids[1:] if compaction_shard(i) == compaction_shard(victim)][: COMPACTION_TRIES + 1]
    for recording_id in (victim, *others):
        assert post_json(client, "/recordings", {"id": recording_id}).status_code in (200, 201)
        send(client, recording_id, 0, deliver=deliver)
    clock = lambda: now_ms() + 1000  # noqa: E731

    # A run that ends the process on it (the run's own handler never sees it) still counts.
    with pytest.raises(SystemExit):
        compactor(s3=DiesOnWriting(victim, SystemExit(137)), clock=clock).run()
    for run in range(1, COMPACTION_TRIES + 1):
        counts = compactor(s3=DiesOnWriting(victim, MemoryError()), clock=clock).run()
        if run < COMPACTION_TRIES:
            # The first run past the dead one compacts the others behind it in the shard.
            assert counts == ({"failed": 1, "compacted": len(others)} if run == 1 else {"failed": 1})
        else:
            assert counts == {"set_aside": 1}
    current = item(owner, victim)
    assert PENDING_ATTRIBUTE not in current
    assert current["compactionSetAside"].startswith("MemoryError")
    for recording_id in others:
        assert_compacted(owner, recording_id, bucket_keys, generation=1)
    # Still readable from its chunks, and a later batch puts it back in line.
    assert fresh_read(client, victim) == expected_lines(0)
    send(client, victim, 1, deliver=deliver)
    assert PENDING_ATTRIBUTE in item(owner, victim)
    assert compactor(clock=clock).run() == {"compacted": 1}
    assert_compacted(owner, victim, bucket_keys, generation=1)
    assert PENDING_ATTRIBUTE not in item(owner, victim)
    assert "compactionSetAside" not in item(owner, victim)


def test_a_compacted_object_larger_than_an_upload_part_goes_up_in_parts_and_is_read_by_range(
    client: Any, deliver: Any, owner: str, bucket_keys: Any
) -> None:
    # Three batches of incompressible text, about 4 MiB of gzip each: the new object is
    # larger than one upload part, so it is never held whole on the way up, and larger
    # than a reader fetches whole, so pages read its blocks by byte range.
    recording_id = create_recording(client)
    sent: list[dict[str, Any]] = []
    for seq in range(3):
        text = base64.b64encode(os.urandom(3 * 1024 * 1024)).decode()
        body = {"seq": seq, "events": [{"type": 3, "timestamp": seq + 1, "data": {"text": text}}]}
        sent.append(body)
        response = client.post(
            events_path(recording_id),
            body=gzip.compress(json.dumps(body, separators=(",", ":")).encode()),
            headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
        )
        assert response.status_code == 202, response.body
        deliver()
    calls: list[str] = []
    services = get_services()
    services.s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    result = services.compactor.compact(owner, recording_id)
    assert result.outcome == "compacted"
    assert result.stored_bytes > 8 * 1024 * 1024
    assert calls.count("CreateMultipartUpload") == calls.count("CompleteMultipartUpload") == 1
    assert calls.count("UploadPart") >= 1
    assert calls.count("PutObject") == 1  # the index alone
    assert_compacted(owner, recording_id, bucket_keys, generation=1)
    calls.clear()
    get_services().events.cache.clear()
    assert read_events(client, recording_id) == [body["events"][0] for body in sent]
    ranged = [name for name in calls if name == "GetObject"]
    assert len(ranged) >= 3  # the index, then the blocks by range
