"""Sessions: page views, referrer, window, visitor, browser and console errors of a recording.

A session is one recording: its first create stores the first page view and what the
request says about the browser; each later page view creates the same id again (200)
and is appended once. Console errors travel with their batch through the stream and are
added by the consumer in the write it already makes.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from chalicelib import records, settings
from chalicelib.aws import get_services
from chalicelib.ids import recording_key
from tests.support.events import stream_records
from tests.support.http import create_recording, post_gzip, post_json, read_events
from tests.support.in_process import NAMES

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
VIEW = 1_800_000_000_000


def create(client: Any, body: dict[str, Any], user_agent: str = CHROME_MAC) -> Any:
    return client.post(
        "/recordings", body=json.dumps(body), headers={"Content-Type": "application/json", "User-Agent": user_agent}
    )


@contextmanager
def dynamodb_calls() -> Iterator[list[str]]:
    """The operations the services' DynamoDB client makes on the recordings table while inside."""
    calls: list[str] = []
    events = get_services().dynamodb.meta.client.meta.events

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        # Rate-limit leases go to the access table now and then: not the recording's writes.
        if params.get("TableName") == NAMES.table or NAMES.table in params.get("RequestItems", {}):
            calls.append(model.name)

    events.register("before-parameter-build.dynamodb", seen)
    try:
        yield calls
    finally:
        events.unregister("before-parameter-build.dynamodb", seen)


WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


def writes(calls: list[str]) -> list[str]:
    return [call for call in calls if call in WRITES]


def test_a_new_recording_stores_its_first_page_view_and_browser(client: Any) -> None:
    response = create(
        client,
        {
            "id": "session-first-1",
            "url": "https://shop.example/",
            "title": "Shop",
            "view": VIEW,
            "referrer": "https://search.example/?q=shoes",
            "viewport": {"width": 1440, "height": 900},
            "user": {"id": "user-42", "traits": {"plan": "pro", "seats": 3, "trial": False, "note": None}},
        },
    )
    assert response.status_code == 201, response.body
    created = response.json_body["recording"]
    described = client.get("/recordings/session-first-1").json_body
    for recording in (created, described):
        assert recording["pages"] == [{"url": "https://shop.example/", "title": "Shop", "at": VIEW}]
        assert recording["pageCount"] == 1
        assert (recording["browser"], recording["os"], recording["device"]) == ("Chrome", "macOS", "desktop")
        assert recording["viewport"] == {"width": 1440, "height": 900}
        assert recording["referrer"] == "https://search.example/?q=shoes"
        assert recording["userId"] == "user-42"
        assert recording["traits"] == {"plan": "pro", "seats": 3, "trial": False, "note": None}
        assert recording["errorCount"] == 0
        assert (recording["url"], recording["title"]) == ("https://shop.example/", "Shop")
    listed = client.get("/recordings").json_body["recordings"][0]
    assert {key: listed[key] for key in ("pages", "browser", "userId", "traits")} == {
        key: described[key] for key in ("pages", "browser", "userId", "traits")
    }


def test_without_the_new_fields_a_create_still_has_one_page_and_empty_session_fields(client: Any) -> None:
    recording = client.post("/recordings", body=b"", headers={"Content-Type": "application/json"}).json_body[
        "recording"
    ]
    assert recording["pages"] == [{"url": None, "title": None, "at": recording["createdAt"]}]
    assert recording["pageCount"] == 1
    assert recording["browser"] is recording["os"] is recording["device"] is None  # no User-Agent sent
    assert recording["viewport"] is recording["referrer"] is recording["userId"] is recording["traits"] is None
    # An empty referrer (document.referrer without one) is no referrer.
    assert create(client, {"referrer": ""}).json_body["recording"]["referrer"] is None


def test_later_page_views_are_appended_once_each_and_only_when_newer(client: Any) -> None:
    assert (
        create(client, {"id": "session-views-1", "url": "https://a.test/1", "title": "One", "view": VIEW}).status_code
        == 201
    )
    second = {"id": "session-views-1", "url": "https://a.test/2", "title": "Two", "view": VIEW + 5000}
    with dynamodb_calls() as calls:
        again = create(client, second, user_agent=SAFARI_IPHONE)
    assert again.status_code == 200
    # The create's conditional put finds the id taken (it writes nothing); then one update.
    assert writes(calls) == ["PutItem", "UpdateItem"]
    pages = [
        {"url": "https://a.test/1", "title": "One", "at": VIEW},
        {"url": "https://a.test/2", "title": "Two", "at": VIEW + 5000},
    ]
    assert again.json_body["recording"]["pages"] == pages
    assert again.json_body["recording"]["pageCount"] == 2
    # A retry of the same view (its answer was lost) changes nothing and writes nothing.
    with dynamodb_calls() as calls:
        retried = create(client, second)
    assert retried.status_code == 200
    assert writes(calls) == ["PutItem"]  # only the create's conditional put, which finds the id taken
    # A view older than the last one recorded (a late retry of an earlier page) neither.
    assert create(client, {"id": "session-views-1", "url": "https://a.test/0", "view": VIEW + 1}).status_code == 200
    recording = client.get("/recordings/session-views-1").json_body
    assert (recording["pages"], recording["pageCount"]) == (pages, 2)
    # The browser is the first create's: a later page's User-Agent does not change it.
    assert (recording["browser"], recording["os"], recording["device"]) == ("Chrome", "macOS", "desktop")
    assert (recording["url"], recording["title"]) == ("https://a.test/1", "One")


def test_pages_keep_the_first_fifty_and_page_count_counts_every_view(client: Any) -> None:
    create_recording(client, id="session-many-1", url="https://a.test/0", view=VIEW)
    for view in range(1, 55):
        body = {"id": "session-many-1", "url": f"https://a.test/{view}", "view": VIEW + view}
        assert create(client, body).status_code == 200
    recording = client.get("/recordings/session-many-1").json_body
    assert recording["pageCount"] == 55
    assert [page["url"] for page in recording["pages"]] == [f"https://a.test/{i}" for i in range(settings.MAX_PAGES)]


def test_pages_stop_at_their_byte_bound_so_the_item_stays_small(client: Any, aws: Any, owner: str) -> None:
    long_url = "https://a.test/" + "\u00e9" * 2000  # 2,015 characters, 4,015 bytes
    create_recording(client, id="session-long-1", url=long_url, view=VIEW)
    for view in range(1, 10):
        assert create(client, {"id": "session-long-1", "url": long_url, "view": VIEW + view}).status_code == 200
    # A short page after the list is closed is not added either: pages are the first ones.
    assert create(client, {"id": "session-long-1", "url": "https://a.test/short", "view": VIEW + 10}).status_code == 200
    recording = client.get("/recordings/session-long-1").json_body
    assert recording["pageCount"] == 11
    assert len(recording["pages"]) == settings.MAX_PAGES_BYTES // len(long_url.encode())
    assert {page["url"] for page in recording["pages"]} == {long_url}
    item = aws.client("dynamodb").get_item(TableName=NAMES.table, Key={"pk": {"S": f"rec#{owner}#session-long-1"}})
    assert len(json.dumps(item["Item"], ensure_ascii=False).encode()) < 2 * settings.MAX_PAGES_BYTES


def test_a_view_racing_another_is_decided_on_what_is_stored_now(client: Any, owner: str) -> None:
    create_recording(client, id="session-race-1", url="https://a.test/1", view=VIEW)
    table = get_services().metadata
    stale = table.get(owner, "session-race-1")
    assert stale is not None
    # Another tab's later view lands between this request's read and its write.
    assert create(client, {"id": "session-race-1", "url": "https://a.test/3", "view": VIEW + 3}).status_code == 200
    after = table.record_visit(
        stale, page={"url": "https://a.test/2", "title": None, "at": VIEW + 2}, view=VIEW + 2, user=None
    )
    assert after is not None
    assert [page["url"] for page in after["pages"]] == ["https://a.test/1", "https://a.test/3"]
    assert after["pageCount"] == 2


def test_a_recording_made_before_page_views_were_kept_gets_its_first_page_then_the_new_one(
    client: Any, aws: Any, owner: str
) -> None:
    table = aws.resource("dynamodb").Table(NAMES.table)
    table.put_item(
        Item={
            **recording_key(owner, "session-legacy"),
            "owner": owner,
            "recordingId": "session-legacy",
            "createdAt": VIEW - 10,
            "createdKey": f"{VIEW - 10:013d}#session-legacy",
            "updatedAt": VIEW - 10,
            "url": "https://old.test/",
            "title": "Old",
        }
    )
    before = client.get("/recordings/session-legacy").json_body
    assert before["pages"] == [{"url": "https://old.test/", "title": "Old", "at": VIEW - 10}]
    assert (before["pageCount"], before["errorCount"], before["browser"]) == (1, 0, None)
    again = create(client, {"id": "session-legacy", "url": "https://old.test/next", "view": VIEW})
    assert again.status_code == 200
    assert again.json_body["recording"]["pages"] == [
        {"url": "https://old.test/", "title": "Old", "at": VIEW - 10},
        {"url": "https://old.test/next", "title": None, "at": VIEW},
    ]
    assert again.json_body["recording"]["pageCount"] == 2


def test_a_deleted_recordings_id_still_answers_409_to_a_later_page_view(client: Any) -> None:
    create_recording(client, id="session-gone-1", view=VIEW)
    assert client.delete("/recordings/session-gone-1").status_code == 204
    refused = create(client, {"id": "session-gone-1", "view": VIEW + 1})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (409, "id_in_use")


def test_the_visitor_is_set_by_create_or_batch_and_written_only_when_it_changes(client: Any) -> None:
    create_recording(client, id="session-user-1", view=VIEW)
    path = "/recordings/session-user-1/events"
    identified = {"id": "user-7", "traits": {"email": "a@b.test"}}

    def post(seq: int, **extra: Any) -> list[str]:
        with dynamodb_calls() as calls:
            response = post_json(client, path, {"seq": seq, "events": [{"type": 3, "timestamp": seq + 1}], **extra})
        assert response.status_code == 202, response.body
        return writes(calls)

    assert post(0) == []  # a POST without a user writes nothing to DynamoDB
    assert post(1, user=identified) == ["UpdateItem"]
    recording = client.get("/recordings/session-user-1").json_body
    assert (recording["userId"], recording["traits"]) == ("user-7", {"email": "a@b.test"})
    assert post(2, user=identified) == []  # the same visitor again: nothing to write
    assert post(3, user={"id": "user-7"}) == ["UpdateItem"]  # traits dropped
    assert client.get("/recordings/session-user-1").json_body["traits"] is None
    # A later page view's create may carry it too, in the same single update.
    with dynamodb_calls() as calls:
        again = create(client, {"id": "session-user-1", "view": VIEW + 1, "user": {"id": "user-8"}})
    assert writes(calls) == ["PutItem", "UpdateItem"]
    assert (again.json_body["recording"]["userId"], again.json_body["recording"]["pageCount"]) == ("user-8", 2)


def test_console_errors_are_counted_by_the_consumer_in_its_one_write(
    client: Any, aws: Any, deliver: Any, owner: str
) -> None:
    first = {"id": "session-errors", "seq": 0, "events": [{"type": 4, "timestamp": 1}] * 3, "errors": 2}
    assert create(client, first).status_code == 201
    other = create_recording(client)
    path = "/recordings/session-errors/events"
    assert (
        post_gzip(client, path, {"seq": 1, "events": [{"type": 6, "timestamp": 2}] * 4, "errors": 4}).status_code == 202
    )
    assert post_json(client, path, {"seq": 2, "events": [{"type": 3, "timestamp": 3}]}).status_code == 202
    assert (
        post_json(
            client, f"/recordings/{other}/events", {"seq": 0, "events": [{"type": 3, "timestamp": 3}], "errors": 1}
        ).status_code
        == 202
    )
    # The errors ride in the record's header, beside the counts.
    headers = [orjson.loads(data) for data in stream_records(aws)]
    assert sorted(header.get("errors", 0) for header in headers) == [0, 1, 2, 4]
    assert sum("errors" in header for header in headers) == 3  # left out where there are none
    with dynamodb_calls() as calls:
        deliver()
    # One count per recording per invocation, errors included: no write of their own.
    assert writes(calls) == ["UpdateItem", "UpdateItem"]
    assert client.get("/recordings/session-errors").json_body["errorCount"] == 6
    assert client.get(f"/recordings/{other}").json_body["errorCount"] == 1
    # A repeated seq (a retry after a lost answer) reaches the stream again. In another
    # invocation, the running counts take it twice.
    repeat = {"seq": 1, "events": [{"type": 6, "timestamp": 2}] * 4, "errors": 4}
    assert post_gzip(client, path, repeat).status_code == 202
    deliver()
    running = client.get("/recordings/session-errors").json_body
    assert (running["eventCount"], running["batches"], running["errorCount"]) == (12, 4, 10)
    # Compaction replaces the event and batch counts with exact ones (each seq once) and
    # keeps the errors' running count: a retried batch's console errors count twice.
    result = get_services().compactor.compact(owner, "session-errors")
    assert result.outcome == "compacted"
    compacted = client.get("/recordings/session-errors").json_body
    assert (compacted["eventCount"], compacted["batches"], compacted["errorCount"]) == (8, 3, 10)


def test_records_written_before_errors_were_carried_still_consume(client: Any, deliver: Any, owner: str) -> None:
    recording_id = create_recording(client)
    batch: dict[str, Any] = {"seq": 0, "events": [{"type": 4, "timestamp": 5}, {"type": 3, "timestamp": 9}]}
    (line,) = records.build_records(
        owner=owner,
        recording=recording_id,
        seq=0,
        payload=gzip.compress(json.dumps(batch).encode()),
        received=1,
        events=2,
    )
    assert b'"errors"' not in line  # the header as the API wrote it before errors were carried
    later: dict[str, Any] = {"seq": 1, "events": [{"type": 3, "timestamp": 12}]}
    (odd,) = records.build_records(
        owner=owner,
        recording=recording_id,
        seq=1,
        payload=gzip.compress(json.dumps(later).encode()),
        received=1,
        events=1,
    )
    # A header from elsewhere with a nonsense count: the batch is stored, the count read as 0.
    odd_header = {**orjson.loads(odd), "errors": -3}
    get_services().writer.put([line, orjson.dumps(odd_header) + b"\n"], partition_key=recording_id)
    deliver()
    recording = client.get(f"/recordings/{recording_id}").json_body
    assert (recording["eventCount"], recording["errorCount"]) == (3, 0)
    assert read_events(client, recording_id) == batch["events"] + later["events"]


TOO_MANY_TRAITS = {f"k{i}": i for i in range(settings.MAX_TRAITS + 1)}
BIG_TRAITS = {f"k{i}": "v" * 500 for i in range(9)}  # each value allowed, 4.5 KB in all

BAD_CREATES: dict[str, tuple[dict[str, Any], str]] = {
    "view a float": ({"view": 1.5}, "invalid_view"),
    "view a string": ({"view": "1800000000000"}, "invalid_view"),
    "view zero": ({"view": 0}, "invalid_view"),
    "view past 2^53": ({"view": 2**53}, "invalid_view"),
    "referrer a number": ({"referrer": 5}, "invalid_referrer"),
    "referrer too long": ({"referrer": "r" * 2049}, "invalid_referrer"),
    "viewport a list": ({"viewport": [1, 2]}, "invalid_viewport"),
    "viewport negative": ({"viewport": {"width": -1, "height": 2}}, "invalid_viewport"),
    "viewport too wide": ({"viewport": {"width": 100_001, "height": 2}}, "invalid_viewport"),
    "viewport missing height": ({"viewport": {"width": 1}}, "invalid_viewport"),
    "viewport extra field": ({"viewport": {"width": 1, "height": 1, "depth": 1}}, "invalid_viewport"),
    "user a string": ({"user": "user-1"}, "invalid_user"),
    "user without id": ({"user": {"traits": {}}}, "invalid_user"),
    "user id empty": ({"user": {"id": ""}}, "invalid_user"),
    "user id too long": ({"user": {"id": "u" * 257}}, "invalid_user"),
    "user id a number": ({"user": {"id": 7}}, "invalid_user"),
    "user unknown field": ({"user": {"id": "u", "name": "x"}}, "invalid_user"),
    "traits a list": ({"user": {"id": "u", "traits": [1]}}, "invalid_user"),
    "too many traits": ({"user": {"id": "u", "traits": TOO_MANY_TRAITS}}, "invalid_user"),
    "trait key too long": ({"user": {"id": "u", "traits": {"k" * 65: 1}}}, "invalid_user"),
    "trait value too long": ({"user": {"id": "u", "traits": {"k": "v" * 513}}}, "invalid_user"),
    "trait value an object": ({"user": {"id": "u", "traits": {"k": {"nested": 1}}}}, "invalid_user"),
    "traits over 4096 bytes": ({"user": {"id": "u", "traits": BIG_TRAITS}}, "invalid_user"),
    "user megabytes long": ({"user": {"id": "u", "traits": {"k": "v" * 3_000_000}}}, "invalid_user"),
    "errors without a batch": ({"errors": 1}, "invalid_errors"),
    "errors above the events": ({"seq": 0, "events": [{"type": 3, "timestamp": 1}], "errors": 2}, "invalid_errors"),
    "errors negative": ({"seq": 0, "events": [{"type": 3, "timestamp": 1}], "errors": -1}, "invalid_errors"),
    "errors a float": ({"seq": 0, "events": [{"type": 3, "timestamp": 1}], "errors": 0.5}, "invalid_errors"),
}


@pytest.mark.parametrize("case", BAD_CREATES, ids=list(BAD_CREATES))
def test_a_bad_session_field_on_create_is_a_400_and_writes_nothing(client: Any, aws: Any, case: str) -> None:
    body, code = BAD_CREATES[case]
    refused = create(client, {"id": "session-bad-01", **body})
    assert refused.status_code == 400, refused.body
    assert refused.json_body["error"]["code"] == code
    assert refused.json_body["error"]["message"]
    assert client.get("/recordings").json_body["recordings"] == []
    assert stream_records(aws) == []


BAD_BATCH_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "errors above the events": ({"errors": 2}, "invalid_errors"),
    "errors negative": ({"errors": -1}, "invalid_errors"),
    "errors a string": ({"errors": "1"}, "invalid_errors"),
    "errors a boolean": ({"errors": True}, "invalid_errors"),
    "user a list": ({"user": ["u"]}, "invalid_user"),
    "user id too long": ({"user": {"id": "u" * 257}}, "invalid_user"),
    "traits over 4096 bytes": ({"user": {"id": "u", "traits": BIG_TRAITS}}, "invalid_user"),
    "a field the batch does not have": ({"view": VIEW}, "invalid_batch"),
}


@pytest.mark.parametrize("case", BAD_BATCH_FIELDS, ids=list(BAD_BATCH_FIELDS))
def test_a_bad_session_field_on_a_batch_is_a_400_and_writes_nothing(client: Any, aws: Any, case: str) -> None:
    recording_id = create_recording(client, user={"id": "before"})
    extra, code = BAD_BATCH_FIELDS[case]
    batch = {"seq": 0, "events": [{"type": 3, "timestamp": 1}], **extra}
    with dynamodb_calls() as calls:
        refused = post_json(client, f"/recordings/{recording_id}/events", batch)
    assert refused.status_code == 400, refused.body
    assert refused.json_body["error"]["code"] == code
    assert writes(calls) == []
    assert stream_records(aws) == []
    assert client.get(f"/recordings/{recording_id}").json_body["userId"] == "before"


def test_the_largest_valid_user_is_taken(client: Any) -> None:
    traits = {f"{i:02d}" + "k" * 62: "v" * 10 for i in range(settings.MAX_TRAITS)}
    assert len(orjson.dumps(traits)) <= settings.MAX_TRAITS_BYTES
    user = {"id": "u" * settings.MAX_USER_ID_LENGTH, "traits": traits}
    recording = create(client, {"user": user, "viewport": {"width": 0, "height": 100_000}}).json_body["recording"]
    assert (recording["userId"], recording["traits"]) == (user["id"], traits)
    assert recording["viewport"] == {"width": 0, "height": 100_000}
