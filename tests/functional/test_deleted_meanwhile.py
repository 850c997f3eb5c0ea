"""A recording deleted while one of the stack's writers was writing for it: the writer deletes what it wrote.

Deleting a recording tombstones it, then deletes everything under its prefix. A writer
that checked the recording before the tombstone can land its object after the prefix
was listed. No reaper is invoked per object (only screenshots notify it), so each writer
checks again once its object is written, and deletes it when the recording is gone.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import consumer, layout
from chalicelib.aws import get_services
from tests.support.accounts import User
from tests.support.http import AuthedHttp, create_recording, post_gzip


def test_a_chunk_written_while_its_recording_was_deleted_is_deleted_by_the_consumer(
    client: AuthedHttp, deliver: Any, notify: Any, bucket_keys: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = create_recording(client)
    post_gzip(client, f"/recordings/{recording_id}/events", {"seq": 0, "events": [{"type": 4, "timestamp": 1}]})
    written = consumer.write_chunk

    def then_deleted(**kwargs: Any) -> str:
        key = written(**kwargs)
        assert bucket_keys(layout.recording_prefix(owner, recording_id)) == [key]
        # The DELETE lands between the chunk's write and its count.
        get_services().recordings.delete(owner, recording_id)
        return key

    monkeypatch.setattr(consumer, "write_chunk", then_deleted)
    assert deliver() == 1
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []
    notify()  # nothing for the reaper: it is told of screenshots only
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []


def test_a_retried_invocation_deletes_what_its_failed_attempt_wrote_for_a_recording_since_deleted(
    client: AuthedHttp, deliver: Any, bucket_keys: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = create_recording(client)
    post_gzip(client, f"/recordings/{recording_id}/events", {"seq": 0, "events": [{"type": 4, "timestamp": 1}]})
    written = consumer.write_chunk
    attempts: list[str] = []

    def written_then_failed(**kwargs: Any) -> str:
        key = written(**kwargs)
        attempts.append(key)
        if len(attempts) == 1:
            # The first attempt dies after its write; the recording is deleted before the retry.
            get_services().recordings.delete(owner, recording_id)
            raise RuntimeError("the invocation died after writing")
        return key

    monkeypatch.setattr(consumer, "write_chunk", written_then_failed)
    deliver()
    assert len(attempts) == 1, "the retry finds the recording gone and writes nothing"
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []


def test_a_compaction_committed_while_its_recording_was_deleted_leaves_nothing(
    client: AuthedHttp, deliver: Any, bucket_keys: Any, owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_id = create_recording(client)
    post_gzip(client, f"/recordings/{recording_id}/events", {"seq": 0, "events": [{"type": 4, "timestamp": 1}]})
    deliver()
    compactor = get_services().compactor
    committed = compactor._commit

    def then_deleted(key: str, index: Any) -> bool:
        done = committed(key, index)
        get_services().recordings.delete(owner, recording_id)
        return done

    monkeypatch.setattr(compactor, "_commit", then_deleted)
    compactor.compact(owner, recording_id)
    assert bucket_keys(layout.recording_prefix(owner, recording_id)) == []


def test_a_comment_written_while_its_recording_was_deleted_is_deleted_and_answered_404(
    aws: Any, client: AuthedHttp, user: User, bucket_keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = str(
        client.post("/recordings", body="{}", headers={"Content-Type": "application/json"}).json_body["recording"]["id"]
    )
    comments = get_services().comments
    s3 = comments._s3
    put = s3.put_object

    def put_then_deleted(**kwargs: Any) -> Any:
        answer = put(**kwargs)
        get_services().recordings.delete(user.sub, rid)
        return answer

    monkeypatch.setattr(s3, "put_object", put_then_deleted)
    answer = client.post(
        f"/recordings/{rid}/comments",
        body=json.dumps({"at": 1000, "text": "look"}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 404
    assert bucket_keys(layout.recording_prefix(user.sub, rid)) == []
