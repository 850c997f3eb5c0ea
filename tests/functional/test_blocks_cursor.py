"""GET /blocks answers a bounded number of blocks per call, the presigned URL once, and a cursor for the rest.

Each block of a compacted recording is about 1 MiB of JSON lines, so a recording anyone
can send with a public ingest key (740 batches of 16 MiB) has about 11,800 of them. An
answer that listed them all, each with its own copy of the presigned URL (about 500
bytes a block), passed Lambda's 6 MB response cap and made every view of that replay a
5xx. Now an answer holds at most ``BLOCKS_PER_RESPONSE`` blocks and the URL once, and
``next`` (passed back as ``?after=``) asks for the following ones.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

from chalicelib import layout, settings, validation
from chalicelib.aws import get_services
from chalicelib.compacted import Block, CompactedIndex
from chalicelib.schema import PENDING_ATTRIBUTE
from tests.functional.test_compaction import expected_lines, send
from tests.functional.test_consumer import batch
from tests.functional.test_live import fetch_range
from tests.support.http import create_recording
from tests.support.in_process import NAMES

# The most one answer may take, whatever the recording holds: a small fraction of
# MAX_PAGE_BYTES (3 MiB) and of Lambda's 6 MB response.
ANSWER_BYTES = 100 * 1024


def get_blocks(client: Any, recording_id: str, cursor: str | None = None) -> Any:
    return client.get(f"/recordings/{recording_id}/blocks" + (f"?after={cursor}" if cursor else ""))


def follow(client: Any, recording_id: str) -> list[dict[str, Any]]:
    """Every answer of the chain, from the first to the one without ``next``."""
    answers: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = get_blocks(client, recording_id, cursor)
        assert response.status_code == 200, response.body
        answers.append(response.json_body)
        cursor = response.json_body.get("next")
        if cursor is None:
            return answers
        assert len(answers) < 100, "the cursor does not move on"


def compacted_in_small_blocks(client: Any, deliver: Any, owner: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A recording of 12 batches compacted into blocks of two events each."""
    recording_id = create_recording(client)
    send(client, recording_id, *range(12), deliver=deliver)
    monkeypatch.setattr(get_services().compactor, "block_bytes", 100)
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    return recording_id


def test_following_next_gets_every_block_once_with_one_url_per_answer(
    client: Any, aws: Any, deliver: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = compacted_in_small_blocks(client, deliver, owner, monkeypatch)
    index = get_services().events.objects.index(
        get_services().events.objects.listing(owner, recording_id).index_key or ""
    )
    assert len(index.blocks) >= 10
    monkeypatch.setattr(settings, "BLOCKS_PER_RESPONSE", 4, raising=False)
    send(client, recording_id, 12, deliver=deliver)  # after the compaction: read through /events

    answers = follow(client, recording_id)
    assert [len(answer["blocks"]) for answer in answers] == [
        min(4, len(index.blocks) - start) for start in range(0, len(index.blocks), 4)
    ]
    ranges = [block["range"] for answer in answers for block in answer["blocks"]]
    assert ranges == [f"bytes={b.offset}-{b.offset + b.length - 1}" for b in index.blocks]  # each once, in order
    data = b""
    for answer in answers:
        assert [set(block) for block in answer["blocks"]] == [{"range", "events"}] * len(answer["blocks"])
        assert (answer["events"], answer["expiresIn"]) == (24, settings.BLOCK_URL_SECONDS)
        assert answer["after"] == answers[0]["after"]
        for block in answer["blocks"]:
            member = zlib.decompress(fetch_range(aws, answer["url"], block), wbits=31)
            assert member.count(b"\n") == block["events"]
            data += member
    assert data == expected_lines(*range(12))
    newer = client.get(f"/recordings/{recording_id}/events?after={answers[0]['after']}", headers={"Accept": "*/*"})
    assert [json.loads(line) for line in newer.body.splitlines()] == batch(12)["events"]


def test_an_answer_stays_small_however_many_blocks_the_recording_has(client: Any, aws: Any, owner: str) -> None:
    # An index as compaction writes it for the recording of 740 batches of 16 MiB that a
    # public ingest key can send (about 12,000 blocks of 1 MiB), every number in it as
    # long as it can be.
    recording_id = create_recording(client)
    count = 12_000
    top = 2**53 - 1
    blocks = tuple(Block(offset=top - (count - i) * 2**32, length=2**32, events=2**31 - i) for i in range(count))
    data_key = layout.compacted_data_key(owner, recording_id, 1, "f" * 16)
    index = CompactedIndex(
        generation=1,
        data_key=data_key,
        seqs=((top, 2**31),),
        blocks=blocks,
        folded=frozenset(),
        sha256="0" * 64,
        events=top,
        stored_bytes=top,
    )
    s3 = aws.client("s3")
    s3.put_object(Bucket=NAMES.bucket, Key=data_key, Body=b"")
    s3.put_object(Bucket=NAMES.bucket, Key=layout.compacted_index_key(owner, recording_id, 1), Body=index.to_json())

    sizes = []
    cursor = None
    listed = 0
    while True:
        response = get_blocks(client, recording_id, cursor)
        assert response.status_code == 200, response.body
        sizes.append(len(response.body))
        listed += len(response.json_body["blocks"])
        cursor = response.json_body.get("next")
        if cursor is None:
            break
    assert max(sizes) <= ANSWER_BYTES, sizes
    assert listed == count
    assert len(sizes) == -(-count // settings.BLOCKS_PER_RESPONSE)


def test_a_cursor_of_another_generation_is_409_and_a_made_up_one_400(
    client: Any, deliver: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = compacted_in_small_blocks(client, deliver, owner, monkeypatch)
    monkeypatch.setattr(settings, "BLOCKS_PER_RESPONSE", 4, raising=False)
    cursor = get_blocks(client, recording_id).json_body["next"]
    assert cursor

    past_the_end = validation.encode_cursor({"g": 1, "b": 1000})
    for made_up in ["nonsense", validation.encode_cursor({"b": 4}), past_the_end]:
        response = get_blocks(client, recording_id, made_up)
        assert response.status_code == 400, made_up
        assert response.json_body["error"]["code"] == "invalid_cursor"

    # Compacted again: the cursor's block numbers mean nothing in the new object.
    send(client, recording_id, 12, deliver=deliver)
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    response = get_blocks(client, recording_id, cursor)
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "blocks_changed"
    assert get_blocks(client, recording_id).status_code == 200  # from the start, the new generation


def test_a_late_batch_inside_the_blocks_stops_a_cursor_with_409(
    client: Any, deliver: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = create_recording(client)
    send(client, recording_id, 0, 1, 3, 4, 5, deliver=deliver)
    monkeypatch.setattr(get_services().compactor, "block_bytes", 100)
    get_services().compactor.compact(owner, recording_id)
    monkeypatch.setattr(settings, "BLOCKS_PER_RESPONSE", 1, raising=False)
    first = get_blocks(client, recording_id).json_body
    assert first["next"]
    send(client, recording_id, 2, deliver=deliver)  # a retried batch, arriving late
    # The blocks already fetched and then /events would put seq 2 after seq 5.
    response = get_blocks(client, recording_id, first["next"])
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "blocks_changed"
    assert get_blocks(client, recording_id).json_body == {"blocks": [], "next": None, "after": None, "complete": False}


def test_a_recording_compacted_with_nothing_since_is_read_without_listing_and_said_complete(
    client: Any, deliver: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = compacted_in_small_blocks(client, deliver, owner, monkeypatch)
    calls: list[str] = []
    s3 = get_services().reader.events.objects.s3
    s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    answers = follow(client, recording_id)
    # The item says generation 1 holds every counted batch: its index is read by key.
    assert "ListObjectsV2" not in calls
    assert all(answer["complete"] for answer in answers)
    assert client.get(f"/recordings/{recording_id}").json_body["compacted"] is True
    # A batch counted since makes it pending: listed again, and /events has the rest.
    send(client, recording_id, 12, deliver=deliver)
    calls.clear()
    again = get_blocks(client, recording_id).json_body
    assert "ListObjectsV2" in calls
    assert again["complete"] is False
    rest = client.get(f"/recordings/{recording_id}/events?after={again['after']}")
    assert [json.loads(line) for line in rest.body.splitlines() if line] == [
        json.loads(line) for line in expected_lines(12).splitlines()
    ]


def test_an_index_gone_since_the_item_was_read_is_found_by_listing(
    client: Any, deliver: Any, owner: str, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    recording_id = compacted_in_small_blocks(client, deliver, owner, monkeypatch)
    # The item names generation 1, whose index a later compaction (2) replaced.
    s3 = aws.client("s3")
    index = s3.get_object(Bucket=NAMES.bucket, Key=layout.compacted_index_key(owner, recording_id, 1))["Body"].read()
    s3.put_object(Bucket=NAMES.bucket, Key=layout.compacted_index_key(owner, recording_id, 2), Body=index)
    s3.delete_object(Bucket=NAMES.bucket, Key=layout.compacted_index_key(owner, recording_id, 1))
    answer = get_blocks(client, recording_id).json_body
    assert answer["complete"] is False
    assert sum(block["events"] for block in answer["blocks"]) == len(expected_lines(*range(12)).splitlines())


def test_a_recording_set_aside_with_chunks_past_its_generation_is_never_said_complete(
    client: Any, deliver: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = compacted_in_small_blocks(client, deliver, owner, monkeypatch)
    send(client, recording_id, 12, deliver=deliver)
    # Compaction gave up on it: out of the pending index, its newer chunk kept.
    table = get_services().metadata
    pending = table.get(owner, recording_id)
    assert pending is not None
    table.set_aside_compaction(pending, reason="tried too often")
    item = table.get(owner, recording_id)
    assert item is not None
    assert PENDING_ATTRIBUTE not in item
    assert int(item["compactedGeneration"]) == 1
    answer = get_blocks(client, recording_id).json_body
    assert answer["complete"] is False
    rest = client.get(f"/recordings/{recording_id}/events?after={answer['after']}")
    assert [json.loads(line) for line in rest.body.splitlines() if line] == [
        json.loads(line) for line in expected_lines(12).splitlines()
    ]
