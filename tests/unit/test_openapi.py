"""openapi.yaml describes the real API: same routes and methods, and a valid spec."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from app import app

SPEC = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text())
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def test_spec_is_valid_openapi() -> None:
    validate(SPEC)


def test_spec_and_chalice_list_the_same_routes_and_methods() -> None:
    documented = {
        (path, method.upper()) for path, item in SPEC["paths"].items() for method in item if method in HTTP_METHODS
    }
    served = {(path, method) for path, methods in app.routes.items() for method in methods if method != "OPTIONS"}
    assert documented == served


def test_documented_limits_match_the_code() -> None:
    from chalicelib import settings

    batch = SPEC["components"]["schemas"]["Batch"]["properties"]
    assert batch["seq"]["maximum"] == settings.MAX_SEQ
    assert batch["events"]["maxItems"] == settings.MAX_EVENTS_PER_BATCH
    listing = next(p for p in SPEC["paths"]["/recordings"]["get"]["parameters"] if p["name"] == "limit")
    assert (listing["schema"]["maximum"], listing["schema"]["default"]) == (
        settings.LIST_LIMIT_MAX,
        settings.LIST_LIMIT_DEFAULT,
    )


def conforms(instance: Any, schema_name: str) -> list[str]:
    """Why ``instance`` does not match the named schema of the spec (empty when it does)."""
    validator = OAS30Validator({"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]})
    return [error.message for error in validator.iter_errors(instance)]


def properties(schema_name: str) -> set[str]:
    return set(SPEC["components"]["schemas"][schema_name]["properties"])


class FakeS3:
    """Just enough of an S3 client for the reader and the recording view: objects in a dict."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        objects = self.objects

        class Paginator:
            def paginate(self, *, Bucket: str, Prefix: str) -> list[dict[str, Any]]:  # noqa: N803
                del Bucket
                return [{"Contents": [{"Key": key} for key in sorted(objects) if key.startswith(Prefix)]}]

        return Paginator()

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        del Bucket
        return {"Body": io.BytesIO(self.objects[Key])}

    def generate_presigned_url(self, operation: str, *, Params: dict[str, Any], ExpiresIn: int) -> str:  # noqa: N803
        del ExpiresIn
        return f"https://bucket.s3.test/{Params['Key']}?op={operation}"


def test_the_202_body_is_the_documented_accepted() -> None:
    from chalicelib import ingest

    prepared = ingest.prepare_batch(
        owner="o",
        recording_id="rec-00000001",
        body=b'{"seq":0,"events":[{"type":4,"timestamp":1}]}',
        content_encoding=None,
    )
    # Unwatched and watched: each answer is an Accepted.
    for watched_until in (0, 2**50):
        body = ingest.commit(
            table=SimpleNamespace(  # type: ignore[arg-type]  # stand-ins with only what commit calls
                get=lambda *_, w=watched_until: {"watchedUntil": w},
            ),
            writer=SimpleNamespace(put=lambda *_, **__: None),  # type: ignore[arg-type]
            owner="o",
            recording_id="rec-00000001",
            prepared=prepared,
        )
        # ``assets`` answers a question the batch carried: this one carried none.
        assert set(body) == properties("Accepted") - {"assets"}
        assert conforms(body, "Accepted") == []
        assert body["live"] is (watched_until > 0)
    # The first batch of a recording just created (the item is given, nothing is read).
    created = ingest.commit(
        table=SimpleNamespace(),  # type: ignore[arg-type]  # stand-ins, as above: nothing is called
        writer=SimpleNamespace(put=lambda *_, **__: None),  # type: ignore[arg-type]
        owner="o",
        recording_id="rec-00000001",
        prepared=prepared,
        item={"owner": "o", "recordingId": "rec-00000001"},
    )
    assert set(created) == properties("Accepted") - {"assets"}
    assert conforms(created, "Accepted") == []


class FakeAccessTable:
    """Just enough of the access table for ``Keys.create``, ``Keys.for_purpose`` and ``Keys.list``: items in a list."""

    name = "access"

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        table = self

        class Client:
            def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
                wanted = {key["pk"] for key in RequestItems[table.name]["Keys"]}
                return {"Responses": {table.name: [dict(item) for item in table.items if item["pk"] in wanted]}}

            def transact_write_items(self, *, TransactItems: list[dict[str, Any]]) -> None:  # noqa: N803
                # Puts only: the owner's key-limits counter (an Update) is not what these tests check.
                for action in TransactItems:
                    if "Put" in action:
                        table.put_item(Item=action["Put"]["Item"])

        self.meta = SimpleNamespace(client=Client())

    def query(self, **_: Any) -> dict[str, Any]:
        return {"Items": [dict(item) for item in reversed(self.items) if "createdAt" in item]}

    def get_item(self, *, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        found = [item for item in self.items if item["pk"] == Key["pk"]]
        return {"Item": dict(found[-1])} if found else {}

    def put_item(self, *, Item: dict[str, Any], **_: Any) -> None:  # noqa: N803
        self.items = [item for item in self.items if item["pk"] != Item["pk"]] + [Item]


def test_keys_are_the_documented_key_and_their_budgets_the_documented_limits() -> None:
    from chalicelib.keys import Keys
    from chalicelib.settings import Limits

    limits = Limits()
    keys = Keys(table=FakeAccessTable(), limits=limits)
    default = keys.create("o", {})
    own = keys.create("o", {"name": "busy site", "requestsPerMinute": 1000, "bytesPerMinute": 5000})
    created = SPEC["paths"]["/keys"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    for key in (default, own):
        assert conforms(key, "Key") == []
        validator = OAS30Validator({**created, "components": SPEC["components"]})
        assert [error.message for error in validator.iter_errors(key)] == []
    assert (default["requestsPerMinute"], default["bytesPerMinute"]) == (limits.key_requests, limits.key_bytes)
    assert (own["requestsPerMinute"], own["bytesPerMinute"]) == (1000, 5000)
    purpose, made = keys.for_purpose("o", {"purpose": "demo"})
    again, made_again = keys.for_purpose("o", {"purpose": "demo"})
    assert (made, made_again, again) == (True, False, purpose)
    returned = SPEC["paths"]["/keys"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert [e.message for e in OAS30Validator({**returned, "components": SPEC["components"]}).iter_errors(again)] == []
    listed = keys.list("o")
    assert [key["id"] for key in listed] == [purpose["id"], own["id"], default["id"]]
    assert [key["purpose"] for key in listed] == ["demo", None, None]
    for key in listed:
        assert set(key) == properties("Key")
        assert conforms(key, "Key") == []
    asked_purposes = SPEC["paths"]["/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    from chalicelib.keys import PURPOSES

    assert asked_purposes["properties"]["purpose"]["enum"] == list(PURPOSES)
    asked = SPEC["paths"]["/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert (asked["requestsPerMinute"]["minimum"], asked["requestsPerMinute"]["maximum"]) == (
        1,
        limits.key_requests_max,
    )
    assert (asked["bytesPerMinute"]["minimum"], asked["bytesPerMinute"]["maximum"]) == (1, 10 * limits.key_bytes)


def test_the_recording_view_is_the_documented_recording() -> None:
    from chalicelib.recordings import Recordings

    recordings = Recordings(table=None, s3=FakeS3({}), bucket="bucket")  # type: ignore[arg-type]
    # An item from before sessions were kept, and one with every session field.
    legacy = recordings.public(
        "o",
        {
            "recordingId": "rec-00000001",
            "createdAt": Decimal(1),
            "updatedAt": Decimal(2),
            "url": "https://a.test/",
            "eventCount": Decimal(3),
            "batchCount": Decimal(1),
            "firstEventAt": Decimal(5),
            "lastEventAt": Decimal("7.5"),
            "compactedGeneration": Decimal(1),
        },
    )
    full = recordings.public(
        "o",
        {
            "recordingId": "rec-00000002",
            "createdAt": Decimal(1),
            "updatedAt": Decimal(2),
            "url": "https://a.test/",
            "title": "A",
            "pages": [
                {"url": "https://a.test/", "title": "A", "at": Decimal(1)},
                {"url": None, "title": None, "at": Decimal(9)},
            ],
            "pageCount": Decimal(3),
            "browser": "Firefox",
            "os": "Linux",
            "device": "desktop",
            "viewport": {"width": Decimal(800), "height": Decimal(600)},
            "referrer": "https://r.test/",
            "userId": "u",
            "traits": '{"plan":"pro","n":1.5,"ok":true,"none":null}',
            "errorCount": Decimal(4),
            "screenshotAt": Decimal(3),
        },
    )
    for view in (legacy, full):
        assert set(view) == properties("Recording")
        assert conforms(view, "Recording") == []
    assert (legacy["live"], legacy["compacted"], legacy["screenshotUrl"], legacy["pageCount"]) == (
        False,
        True,
        None,
        1,
    )
    assert full["traits"] == {"plan": "pro", "n": 1.5, "ok": True, "none": None}
    assert full["screenshotUrl"].startswith("https://")


def test_session_fields_and_filters_are_documented_as_the_code_checks_them() -> None:
    from chalicelib import settings, validation
    from chalicelib.errors import BadRequestError

    recording = SPEC["components"]["schemas"]["RecordingInput"]["properties"]
    assert set(recording) >= {"view", "referrer", "viewport", "user", "errors", "end"}
    user = SPEC["components"]["schemas"]["User"]["properties"]
    assert user["id"]["maxLength"] == settings.MAX_USER_ID_LENGTH
    assert user["traits"]["maxProperties"] == settings.MAX_TRAITS
    assert f"{settings.MAX_TRAITS_BYTES} bytes" in user["traits"]["description"]
    viewport = SPEC["components"]["schemas"]["Viewport"]["properties"]
    assert viewport["width"]["maximum"] == viewport["height"]["maximum"] == settings.MAX_VIEWPORT_PIXELS
    # Every field the API's batch decoder takes (it refuses any other) is documented.
    assert set(SPEC["components"]["schemas"]["Batch"]["properties"]) == set(validation._Batch.__struct_fields__)
    assert SPEC["components"]["schemas"]["Recording"]["properties"]["pages"]["maxItems"] == settings.MAX_PAGES
    parameters = {p["name"]: p for p in SPEC["paths"]["/recordings"]["get"]["parameters"]}
    assert set(parameters) == {"limit", "cursor", "q", "user", "from", "to", "minDurationMs", "maxDurationMs", "errors"}
    assert parameters["q"]["schema"]["maxLength"] == settings.MAX_SEARCH_LENGTH
    # Every documented filter is one the code reads: a value too long for it is refused.
    for name in ("q", "user", "from", "to", "minDurationMs", "maxDurationMs", "errors"):
        with pytest.raises(BadRequestError, match=name):
            validation.list_filters({name: "9" * 300})
    assert f"{settings.LIST_SCAN_ENTRIES} of the owner" in SPEC["paths"]["/recordings"]["get"]["description"]


def test_the_events_page_documents_both_shapes_and_the_accept_rule() -> None:
    from chalicelib import reader

    events = SPEC["paths"]["/recordings/{recording_id}/events"]["get"]
    content = events["responses"]["200"]["content"]
    assert set(content) == {reader.EVENTS_GZIP_TYPE, reader.EVENTS_TEXT_TYPE.split(";")[0]}
    assert "first media type of `Accept`" in events["description"]
    assert reader.EVENTS_GZIP_TYPE in app.api.binary_types
    assert reader.EVENTS_TEXT_TYPE.split(";")[0] not in app.api.binary_types


def test_blocks_answers_are_the_documented_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import compacted, layout, settings
    from chalicelib.compacted import CompactedIndex
    from chalicelib.reader import EventReader

    objects: dict[str, bytes] = {}
    reader = EventReader(s3=FakeS3(objects), bucket="bucket")
    empty = reader.blocks("o", "rec-00000001")
    assert conforms(empty, "Blocks") == []
    assert empty == {"blocks": [], "next": None, "after": None, "complete": False}

    encoded = compacted.encode([b'{"type":4,"timestamp":1}\n', b'{"type":3,"timestamp":2}\n'], block_bytes=30)
    data_key = layout.compacted_data_key("o", "rec-00000001", 1, encoded.sha256[:16])
    objects[data_key] = encoded.body
    objects[layout.compacted_index_key("o", "rec-00000001", 1)] = CompactedIndex(
        generation=1,
        data_key=data_key,
        seqs=((0, 2),),
        blocks=encoded.blocks,
        folded=frozenset(),
        sha256=encoded.sha256,
        events=2,
        stored_bytes=len(encoded.body),
    ).to_json()
    full = reader.blocks("o", "rec-00000001")
    assert conforms(full, "Blocks") == []
    assert set(full) == properties("Blocks")
    assert [block["range"] for block in full["blocks"]] == [
        f"bytes={b.offset}-{b.offset + b.length - 1}" for b in encoded.blocks
    ]
    assert SPEC["components"]["schemas"]["Blocks"]["properties"]["blocks"]["maxItems"] == settings.BLOCKS_PER_RESPONSE
    monkeypatch.setattr(settings, "BLOCKS_PER_RESPONSE", 1)
    first = reader.blocks("o", "rec-00000001")
    rest = reader.blocks("o", "rec-00000001", cursor=first["next"])
    assert (conforms(first, "Blocks"), conforms(rest, "Blocks")) == ([], [])
    assert (first["blocks"] + rest["blocks"], rest["next"]) == (full["blocks"], None)


def test_live_tail_and_watch_are_documented_as_the_code_does_them() -> None:
    from chalicelib import settings

    events = SPEC["paths"]["/recordings/{recording_id}/events"]["get"]
    watch = next(p for p in events["parameters"] if p["name"] == "watch")
    assert set(watch["schema"]["enum"]) == {"0", "1", "true", "false"}
    assert f"next {settings.WATCH_SECONDS} seconds" in watch["description"]
    assert "X-Tail-Cursor" in events["responses"]["200"]["headers"]
    flush = SPEC["components"]["schemas"]["Accepted"]["properties"]["live"]["description"]
    seconds = settings.LIVE_FLUSH_MS // 1000
    assert f"within {seconds} second{'' if seconds == 1 else 's'}" in flush
    assert settings.LIVE_IDLE_MS == 60_000  # "within the last minute" in Recording.live
    assert "within the last minute" in SPEC["components"]["schemas"]["Recording"]["properties"]["live"]["description"]
