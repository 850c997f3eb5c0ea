"""The ingest record format: split, parse, join, dedupe."""

from __future__ import annotations

import gzip
import json
import os

import orjson
import pytest

from chalicelib import records, settings, validation
from chalicelib.errors import BadRequestError

BATCH = {"seq": 4, "events": [{"type": 3, "timestamp": 1}]}


def build(payload: bytes, *, seq: int = 4, part_size: int = 700 * 1024) -> list[bytes]:
    return records.build_records(
        owner="o1", recording="rec-00001", seq=seq, payload=payload, received=5, events=1, part_size=part_size
    )


def parse(line: bytes) -> records.RecordPart:
    """One of the records ``build`` made, decoded (each is one)."""
    part = records.parse_record(line)
    assert part is not None
    return part


def test_record_is_one_json_line_ending_in_a_newline_with_the_routing_fields() -> None:
    (line,) = build(gzip.compress(json.dumps(BATCH).encode()))
    # Exactly one line, newline included: Firehose without record processing
    # concatenates records as they are, and the archive must still be JSON lines.
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    header = orjson.loads(line)
    assert {k: header[k] for k in ("v", "owner", "recording", "seq", "part", "parts")} == {
        "v": 1,
        "owner": "o1",
        "recording": "rec-00001",
        "seq": 4,
        "part": 0,
        "parts": 1,
    }


def test_payload_split_into_parts_joins_back_byte_for_byte() -> None:
    payload = os.urandom(2_500_000)
    lines = build(payload, part_size=700 * 1024)
    assert len(lines) == 4
    assert all(len(line) < 1024 * 1024 for line in lines)
    parts = [parse(line) for line in reversed(lines)]
    assert records.assemble(parts) == {4: payload}


def test_repeated_records_are_dropped_and_incomplete_batches_left_out() -> None:
    whole = build(b"a" * 30, seq=1, part_size=10)
    partial = build(b"b" * 30, seq=2, part_size=10)[:2]
    parsed = [parse(line) for line in whole + whole + partial]
    assert records.assemble(parsed) == {1: b"a" * 30}


def test_object_with_foreign_lines_yields_only_ingest_records() -> None:
    good = build(gzip.compress(json.dumps(BATCH).encode()))[0]
    body = gzip.compress(b"not json\n" + b'{"v": 2}\n' + b"\n" + good)
    (record,) = list(records.parse_object(body))
    events = records.payload_events(records.assemble([record])[4])
    assert [json.loads(event) for event in events] == BATCH["events"]


def test_chunk_cache_stays_within_its_byte_bound_evicting_least_recently_used() -> None:
    from chalicelib.recording_objects import ChunkCache

    cache = ChunkCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now the most recently used
    cache.put("c", b"1234")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1234", None, b"1234")
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None


def test_parts_of_two_attempts_at_one_seq_are_never_joined() -> None:
    first = build(b"a" * 30, seq=5, part_size=10)
    retry = build(b"b" * 30, seq=5, part_size=10)  # same seq, other bytes (another compressor)
    mixed = [parse(line) for line in (first[0], retry[1], first[2], retry[0], retry[2])]
    assert records.assemble(mixed) == {5: b"b" * 30}


def test_a_record_claiming_more_parts_than_a_batch_can_have_is_not_a_record() -> None:
    (line,) = build(gzip.compress(json.dumps(BATCH).encode()))
    at_most = line.replace(b'"parts":1,', b'"parts":%d,' % records.MAX_PARTS)
    assert records.parse_record(at_most) is not None
    for claimed in (records.MAX_PARTS + 1, 1_000_000):
        over = line.replace(b'"parts":1,', b'"parts":%d,' % claimed)
        assert records.parse_record(over) is None
        with pytest.raises(records.TooManyPartsError):
            records.decode_record(over)


def test_a_batch_is_never_cut_into_more_parts_than_the_consumer_takes() -> None:
    """Refused when built, so it is never acknowledged and then skipped by the consumer."""
    most = records.MAX_PARTS * 10
    assert len(build(b"a" * most, part_size=10)) == records.MAX_PARTS
    with pytest.raises(ValueError, match="the consumer takes at most"):
        build(b"a" * (most + 1), part_size=10)


@pytest.mark.parametrize(
    "payload",
    [b"not gzip", gzip.compress(b'["x"]'), gzip.compress(b"{}"), gzip.compress(b" " * (16 * 1024 * 1024 + 1))],
    ids=["not-gzip", "a-list", "no-events", "past-a-batch"],
)
def test_a_payload_that_is_not_a_batch_is_malformed_not_an_error(payload: bytes) -> None:
    with pytest.raises(records.MalformedRecordError):
        records.payload_events(payload)


def test_object_lines_skip_what_no_record_can_be_and_keep_every_other_lines_position() -> None:
    long = b"x" * (records.MAX_LINE_BYTES + 1)
    body = gzip.compress(b"a\n" + long + b"\nb\n")
    for cut in (1, 7, len(body) // 2):
        assert list(records.object_lines([body[:cut], body[cut:]])) == [b"a", None, b"b"]
    assert list(records.object_lines([body[:-8]]))[-1] is None  # truncated
    assert list(records.object_lines([gzip.compress(b"a\n") + gzip.compress(b"b\n")])) == [b"a", b"b"]
    assert list(records.object_lines([b"plain\nlines\n"])) == [b"plain", b"lines"]


def _deep_batch(depth: int) -> bytes:
    return b'{"seq":1,"events":[{"type":3,"timestamp":5,"data":' + b"[" * depth + b"]" * depth + b"}]}"


def _deepest_accepted() -> int:
    """The deepest nesting validation accepts from this test's stack (it depends on the frames in use)."""
    low, high = settings.MAX_JSON_DEPTH, settings.MAX_JSON_DEPTH + 1000
    while low < high:
        middle = (low + high + 1) // 2
        try:
            validation.event_batch(_deep_batch(middle))
            low = middle
        except BadRequestError:
            high = middle - 1
    return low


def test_a_batch_the_api_accepted_is_read_however_deep_the_readers_stack() -> None:
    depth = _deepest_accepted()
    payload = gzip.compress(_deep_batch(depth))

    def read_from_deeper(frames: int) -> list[bytes]:
        return read_from_deeper(frames - 1) if frames else records.payload_events(payload)

    (event,) = read_from_deeper(300)
    assert event.count(b"[") == depth


def test_a_record_nested_past_any_stack_is_malformed_not_an_error() -> None:
    with pytest.raises(records.MalformedRecordError, match="nests deeper"):
        records.payload_events(gzip.compress(_deep_batch(100_000)))


def test_a_watched_batchs_records_carry_live_true_and_others_no_mark_at_all() -> None:
    common = {"owner": "o", "recording": "r", "seq": 3, "payload": b"\x1f\x8b" + b"x" * 100, "received": 1, "events": 2}
    for live in (False, True):
        lines = records.build_records(**common, part_size=40, live=live)  # type: ignore[arg-type]
        assert len(lines) == 3
        for line in lines:
            # Absent, not false: the unwatched consumer's filter takes records without the mark,
            # which is also every record written before it existed.
            assert ("live" in orjson.loads(line)) is live
            assert orjson.loads(line).get("live", True) is True
            assert records.decode_record(line).live is live
