"""Hostile input against the API in process: each case was once accepted, hung or leaked.

Every test names the exact status and error code it expects, and checks that nothing
reached the stream when a request was refused.
"""

from __future__ import annotations

import gzip
import json
import threading
import tracemalloc
import urllib.parse
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import settings, validation
from chalicelib.aws import get_services
from chalicelib.errors import BadRequestError
from chalicelib.ids import recording_key
from tests.functional.test_bad_input import assert_error
from tests.support.accounts import User
from tests.support.budget_window import early_in_a_budget_window
from tests.support.events import stream_records
from tests.support.http import AuthedHttp, create_recording
from tests.support.in_process import NAMES

GOOD = {"type": 3, "timestamp": 1_700_000_000_000}


def events_path(recording_id: str) -> str:
    return f"/recordings/{recording_id}/events"


def gzip_headers() -> dict[str, str]:
    return {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}


def member_ending_on_the_inflate_step() -> bytes:
    """A gzip member whose output ends one byte past 256 KiB, then a second member.

    zlib leaves the second member in both ``unconsumed_tail`` and ``unused_data`` here;
    the old loop fed the tail back forever (a 600-byte request pinned a CPU for good).
    """
    return gzip.compress(b"\0" * (256 * 1024 + 1), 6) + gzip.compress(b"{}")


def test_gzip_member_ending_on_the_inflate_step_is_answered_not_spun_on(client: AuthedHttp, aws: Any) -> None:
    recording_id = create_recording(client)
    body = member_ending_on_the_inflate_step()
    assert len(body) < 700
    outcome: list[Any] = []
    # A thread with a deadline: on the old code this request never returns.
    worker = threading.Thread(
        target=lambda: outcome.append(client.post(events_path(recording_id), body=body, headers=gzip_headers())),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=30)
    assert outcome, "the request did not return"
    # Zeros then "{}": inflates completely, and is then refused as JSON.
    assert_error(outcome[0], 400, "invalid_json")
    assert stream_records(aws) == []


def test_inflate_stops_at_the_end_of_each_member() -> None:
    body = member_ending_on_the_inflate_step()
    assert validation.inflate(body, limit=1024 * 1024) == b"\0" * (256 * 1024 + 1) + b"{}"


def test_more_gzip_members_than_a_client_makes_are_refused() -> None:
    body = gzip.compress(b"") * (settings.MAX_GZIP_MEMBERS + 1)
    with pytest.raises(BadRequestError) as refused:
        validation.inflate(body, limit=1024)
    assert refused.value.code == "invalid_gzip"


def value_bomb() -> bytes:
    """~16 MiB of ``{}`` values inside one event's data, about 16 KB as gzip."""
    inner = b",".join([b"{}"] * (5 * 1024 * 1024))
    raw = b'{"seq": 0, "events": [{"type": 3, "timestamp": 1700000000000, "data": [' + inner + b"]}]}"
    return gzip.compress(raw, 9)


def test_json_value_bomb_costs_its_bytes_not_an_object_per_value(client: AuthedHttp, deliver: Any, owner: str) -> None:
    recording_id = create_recording(client)
    body = value_bomb()
    assert len(body) < 64 * 1024
    tracemalloc.start()
    response = client.post(events_path(recording_id), body=body, headers=gzip_headers())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 202, response.body
    # The old parse made five million dicts: over 500 MB. Now: the inflated bytes, once.
    assert peak < 64 * 1024 * 1024
    deliver()
    page = get_services().events.page(owner, recording_id, cursor=None, accept_gzip=True)
    assert page.events == 1


@pytest.mark.parametrize(
    "stamp",
    ["1e200", "-1e308", "5e-324", "1e-131", "0", "-1", "0.5", "9007199254740992", "1e400"],
)
def test_timestamp_outside_1_to_2_53_ms_is_refused_before_anything_is_written(
    client: AuthedHttp, aws: Any, stamp: str
) -> None:
    recording_id = create_recording(client)
    body = f'{{"seq": 0, "events": [{{"type": 3, "timestamp": {stamp}}}]}}'.encode()
    response = client.post(events_path(recording_id), body=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_event")
    assert stream_records(aws) == []
    recording = client.get(f"/recordings/{recording_id}").json_body
    assert (recording["eventCount"], recording["batches"]) == (0, 0)


def test_timestamps_at_both_ends_of_the_range_are_stored_and_counted(client: AuthedHttp, deliver: Any) -> None:
    recording_id = create_recording(client)
    batch = {"seq": 0, "events": [{"type": 3, "timestamp": 1}, {"type": 3, "timestamp": 2**53 - 1}]}
    response = client.post(events_path(recording_id), body=json.dumps(batch), headers={"Content-Type": "text/plain"})
    assert response.status_code == 202
    deliver()
    recording = client.get(f"/recordings/{recording_id}").json_body
    assert (recording["firstEventAt"], recording["lastEventAt"]) == (1, 2**53 - 1)


def test_create_with_a_bad_first_batch_timestamp_creates_nothing(client: AuthedHttp, aws: Any) -> None:
    body = {"id": "bad-stamp-001", "seq": 0, "events": [{"type": 4, "timestamp": 1e-131}]}
    response = client.post("/recordings", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_event")
    assert stream_records(aws) == []
    assert client.get("/recordings/bad-stamp-001").status_code == 404


def test_a_write_failing_after_the_stream_took_the_batch_is_a_503_and_the_retry_counts_once(
    client: AuthedHttp, deliver: Any, aws: Any
) -> None:
    recording_id = create_recording(client)
    table_events = get_services().dynamodb.meta.client.meta.events
    throttled = [True]

    def throttle(params: dict[str, Any], **_: Any) -> None:
        # A last batch's one write, after the stream took it: the recording marked ended.
        if throttled[0] and "endedAt" in str(params.get("UpdateExpression", "")):
            throttled[0] = False
            raise ClientError(
                {
                    "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "UpdateItem",
            )

    table_events.register("before-parameter-build.dynamodb.UpdateItem", throttle)
    batch = json.dumps({"seq": 4, "events": [GOOD], "end": True})
    first = client.post(events_path(recording_id), body=batch, headers={"Content-Type": "application/json"})
    assert_error(first, 503, "unavailable")
    assert first.headers["Retry-After"] == "1"
    assert len(stream_records(aws)) == 1, "the stream took the batch before the write failed"
    retry = client.post(events_path(recording_id), body=batch, headers={"Content-Type": "application/json"})
    assert retry.status_code == 202
    deliver()
    from tests.support.http import read_events

    assert read_events(client, recording_id) == [GOOD]  # written twice, read once
    assert client.get(f"/recordings/{recording_id}").json_body["endedAt"]
    assert client.get(f"/recordings/{recording_id}").json_body["eventCount"] == 1


def test_cors_headers_of_one_response_never_reach_another(client: AuthedHttp, user: User) -> None:
    key = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"}).json_body["key"]
    ingest = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Origin": "https://any.example"}
    created = client.post("/recordings", body=b"{}", headers=ingest)
    assert created.headers["Access-Control-Allow-Origin"] == "*"
    foreign = {**user.headers, "Content-Type": "application/json", "Origin": "https://evil.example"}
    made = client.post("/keys", body=b"{}", headers=foreign)
    assert made.status_code == 201
    assert "Access-Control-Allow-Origin" not in made.headers
    plain = client.post("/keys", body=b"{}", headers={"Content-Type": "application/json"})
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_access_token_in_the_url_is_refused(client: AuthedHttp, anonymous: AuthedHttp, user: User) -> None:
    token = urllib.parse.quote(user.access_token)
    for response in (
        anonymous.post(f"/recordings?ingestKey={token}", body=b"{}", headers={"Content-Type": "text/plain"}),
        anonymous.get(f"/recordings?ingestKey={token}"),
    ):
        assert_error(response, 401, "unauthorized")
    assert client.get("/recordings").json_body["recordings"] == []


def test_ingest_keys_cannot_be_churned_into_fresh_budgets(client: AuthedHttp) -> None:
    json_headers = {"Content-Type": "application/json"}
    for _ in range(settings.MAX_KEYS_CREATED_PER_WINDOW):
        made = client.post("/keys", body=b"{}", headers=json_headers).json_body
        assert client.delete(f"/keys/{made['id']}").status_code == 204
    refused = client.post("/keys", body=b"{}", headers=json_headers)
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= settings.KEY_CREATION_WINDOW_S + 1


def test_a_key_is_a_sites_budget_and_may_be_given_its_own(
    client: AuthedHttp, anonymous: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.in_process import clear_caches

    monkeypatch.setenv("RRWEB_LIMIT_USER_REQUESTS", "8")
    monkeypatch.setenv("RRWEB_LIMIT_KEY_REQUESTS", "3")
    monkeypatch.setenv("RRWEB_LIMIT_KEY_REQUESTS_MAX", "50")
    clear_caches()
    early_in_a_budget_window()  # every budget below is spent within one window
    json_headers = {"Content-Type": "application/json"}
    too_much = client.post("/keys", body=json.dumps({"requestsPerMinute": 51}), headers=json_headers)
    assert_error(too_much, 400, "invalid_budget")
    for bad in (0, -1, 1.5, "10", True):
        assert_error(
            client.post("/keys", body=json.dumps({"requestsPerMinute": bad}), headers=json_headers),
            400,
            "invalid_budget",
        )
    own = client.post("/keys", body=json.dumps({"requestsPerMinute": 5}), headers=json_headers).json_body
    default = client.post("/keys", body=b"{}", headers=json_headers).json_body  # the user's 8th request
    assert (own["requestsPerMinute"], default["requestsPerMinute"]) == (5, 3)
    statuses = {
        name: [
            anonymous.post(
                "/recordings", body=b"{}", headers={**json_headers, "Authorization": f"Bearer {made['key']}"}
            ).status_code
            for _ in range(6)
        ]
        for name, made in (("own", own), ("default", default))
    }
    # Each key spends its own budget; neither spends the user's, which is used up.
    assert statuses == {"own": [201] * 5 + [429], "default": [201] * 3 + [429] * 3}
    assert_error(client.get("/keys"), 429, "rate_limited")


def test_small_json_routes_refuse_large_bodies_before_parsing(anonymous: AuthedHttp) -> None:
    body = json.dumps({"email": "a@example.com", "password": "x" * settings.MAX_SMALL_BODY_BYTES})
    response = anonymous.post("/auth/signin", body=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "body_too_large")


def test_screenshot_link_is_always_served_as_a_jpeg(client: AuthedHttp, notify: Any) -> None:
    from tests.functional.test_recordings import upload_screenshot

    created = client.post("/recordings", body=b"{}", headers={"Content-Type": "application/json"}).json_body
    recording_id = created["recording"]["id"]
    upload_screenshot(created["screenshotUpload"])
    notify()
    url = client.get(f"/recordings/{recording_id}").json_body["screenshotUrl"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["response-content-type"] == ["image/jpeg"]
    assert query["response-content-disposition"] == ["inline"]


def test_a_count_that_fails_after_its_chunk_is_written_is_retried_and_counted_once(
    client: AuthedHttp, deliver: Any
) -> None:
    recording_id = create_recording(client)
    post = {"headers": {"Content-Type": "application/json"}}
    later = json.dumps({"seq": 5, "events": [{"type": 3, "timestamp": 1000}]})
    assert client.post(events_path(recording_id), body=later, **post).status_code == 202
    assert deliver() == 1
    throttled = [True]

    def throttle(params: dict[str, Any], **_: Any) -> None:
        # The chunk is in S3; the consumer's count of it is throttled once.
        if throttled[0] and "countedThrough" in params.get("UpdateExpression", ""):
            throttled[0] = False
            raise ClientError(
                {"Error": {"Code": "ThrottlingException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "UpdateItem"
            )

    get_services().dynamodb.meta.client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", throttle)
    earlier = json.dumps({"seq": 3, "events": [{"type": 3, "timestamp": 100}, {"type": 3, "timestamp": 200}]})
    assert client.post(events_path(recording_id), body=earlier, **post).status_code == 202
    deliver()  # the count fails: the records are reported for a retry
    assert not throttled[0]
    deliver()  # the retry writes the same chunk again and counts it
    deliver()  # nothing new: nothing counted twice
    recording = client.get(f"/recordings/{recording_id}").json_body
    assert (recording["eventCount"], recording["batches"]) == (3, 2)
    assert (recording["firstEventAt"], recording["durationMs"]) == (100, 900)


def test_a_full_recording_is_refused_before_anything_is_written(client: AuthedHttp, aws: Any, owner: str) -> None:
    recording_id = create_recording(client)
    # As if the stream consumer had counted its limit of batches.
    aws.resource("dynamodb").Table(NAMES.table).update_item(
        Key=recording_key(owner, recording_id),
        UpdateExpression="SET batchCount = :n",
        ExpressionAttributeValues={":n": settings.MAX_BATCHES_PER_RECORDING},
    )
    batch = json.dumps({"seq": 1, "events": [GOOD]})
    response = client.post(events_path(recording_id), body=batch, headers={"Content-Type": "application/json"})
    assert_error(response, 409, "recording_full")
    assert stream_records(aws) == []


def test_a_list_cursor_with_a_forged_index_key_is_refused(client: AuthedHttp) -> None:
    recording_id = create_recording(client)
    for created_key in ("", f"123#{recording_id}", f"{'1' * 13}#someone-else"):
        cursor = validation.encode_cursor({"recordingId": recording_id, "createdKey": created_key})
        assert_error(client.get(f"/recordings?cursor={cursor}"), 400, "invalid_cursor")
