"""``POST /assets/missing`` and ``POST /assets/urls`` in process (moto).

What S3 itself enforces on the presigned upload (the bytes' SHA-256, their length and
type, no overwrite) is checked against the embedded AWS's guard in
``tests/unit/test_local_assets.py``; here: who may ask, what the answer holds, what it
costs, the lease, and that one owner's answer says nothing of another's assets.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import urllib.parse
from typing import Any

import pytest

from chalicelib import layout, settings
from chalicelib.assets import Assets, AssetsRequest, Wanted, lookup_requests
from chalicelib.aws import get_services
from tests.support.accounts import User, make_user
from tests.support.budget_window import early_in_a_budget_window
from tests.support.events import stream_records
from tests.support.http import AuthedHttp

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100
FONT = b"wOF2" + b"glyphs" * 300
RECORDING = "rec-assets-0001"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ask(http: AuthedHttp, assets: list[dict[str, Any]], recording: str = RECORDING) -> Any:
    body = json.dumps({"recording": recording, "assets": assets})
    return http.post("/assets/missing", body=body, headers={"Content-Type": "application/json"})


def entry(data: bytes, content_type: str = "image/png") -> dict[str, Any]:
    return {"sha256": sha(data), "size": len(data), "type": content_type}


def make_key(client: AuthedHttp, **extra: Any) -> dict[str, str]:
    created = client.post(
        "/keys", body=json.dumps({"name": "site", **extra}), headers={"Content-Type": "application/json"}
    )
    assert created.status_code == 201, created.json_body
    return {"Authorization": f"Bearer {created.json_body['key']}"}


def store(aws: Any, owner: str, data: bytes, content_type: str = "image/png") -> None:
    """What the browser's upload leaves in the bucket."""
    aws.client("s3").put_object(
        Bucket=settings.get_settings().bucket,
        Key=layout.asset_key(owner, sha(data)),
        Body=data,
        ContentType=content_type,
    )


def test_an_ingest_key_learns_what_to_upload_and_each_upload_pins_hash_length_and_type(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, user: User
) -> None:
    key = anonymous.acting_as(make_key(client))
    answer = ask(key, [entry(PNG), entry(FONT, "font/woff2")])
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["held"] == 0
    uploads = {item["sha256"]: item["upload"] for item in answer.json_body["missing"]}
    assert set(uploads) == {sha(PNG), sha(FONT)}
    upload = uploads[sha(PNG)]
    assert upload["method"] == "PUT"
    assert upload["headers"] == {
        "Content-Type": "image/png",
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(PNG).digest()).decode(),
        "If-None-Match": "*",
    }
    query = urllib.parse.parse_qs(urllib.parse.urlparse(upload["url"]).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host;if-none-match;x-amz-checksum-sha256"]
    assert f"/assets/owner={user.sub}/sha256={sha(PNG)}" in urllib.parse.unquote(upload["url"])


def test_what_the_owner_holds_is_not_asked_for_again_and_costs_nothing(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, user: User
) -> None:
    owner = user.sub
    store(aws, owner, PNG)
    answer = ask(anonymous.acting_as(make_key(client)), [entry(PNG), entry(FONT, "font/woff2")])
    assert answer.status_code == 200
    assert answer.json_body["held"] == 1
    assert [item["sha256"] for item in answer.json_body["missing"]] == [sha(FONT)]


def test_another_owners_assets_are_neither_revealed_nor_shared(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, user: User
) -> None:
    store(aws, user.sub, PNG)
    other = make_user(aws, "other@example.com")
    answer = ask(anonymous.acting_as(other.headers), [entry(PNG)])
    assert answer.status_code == 200
    assert answer.json_body["held"] == 0, "whether someone else holds a hash is not this owner's business"
    (missing,) = answer.json_body["missing"]
    assert f"owner={other.sub}/" in urllib.parse.unquote(missing["upload"]["url"])


@pytest.mark.parametrize(
    ("assets", "status", "code"),
    [
        ([{"sha256": "ABC", "size": 1, "type": "image/png"}], 400, "invalid_assets"),
        ([{"sha256": "g" * 64, "size": 1, "type": "image/png"}], 400, "invalid_assets"),
        ([{"sha256": "a" * 64, "size": 0, "type": "image/png"}], 400, "invalid_assets"),
        ([{"sha256": "a" * 64, "size": True, "type": "image/png"}], 400, "invalid_assets"),
        ([{"sha256": "a" * 64, "size": settings.ASSET_MAX_BYTES + 1, "type": "image/png"}], 400, "invalid_assets"),
        ([{"sha256": "a" * 64, "size": 10, "type": "text/html"}], 400, "invalid_assets"),
        ([{"sha256": "a" * 64, "size": 10, "type": "application/javascript"}], 400, "invalid_assets"),
        (["a" * 64], 400, "invalid_assets"),
        ([{"sha256": f"{i:064x}", "size": 1, "type": "image/png"} for i in range(301)], 413, "too_many_assets"),
    ],
    ids=["short", "not-hex", "empty", "bool-size", "too-large", "html", "script", "not-object", "too-many"],
)
def test_a_bad_question_is_refused_whole_and_signs_nothing(
    client: AuthedHttp, assets: list[Any], status: int, code: str
) -> None:
    answer = ask(client, assets)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (status, code)


def test_a_hundred_thousand_hashes_are_refused_by_size_before_any_work(client: AuthedHttp) -> None:
    assets = [{"sha256": f"{i:064x}", "size": 1, "type": "image/png"} for i in range(100_000)]
    answer = ask(client, assets)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (413, "body_too_large")


def test_a_malformed_body_or_recording_is_a_400(client: AuthedHttp) -> None:
    raw = client.post("/assets/missing", body=b"{not json", headers={"Content-Type": "application/json"})
    assert (raw.status_code, raw.json_body["error"]["code"]) == (400, "invalid_json")
    assert ask(client, [entry(PNG)], recording="../x").status_code == 400


def test_upload_bytes_count_against_the_keys_byte_budget(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, user: User
) -> None:
    key = anonymous.acting_as(make_key(client, bytesPerMinute=4096))
    early_in_a_budget_window()
    # The budget may go one request over (limits.py), then refuses for the minute.
    assert ask(key, [entry(b"x" * 5000)]).status_code == 200
    refused = ask(key, [entry(b"y" * 5000)])
    assert refused.status_code == 429, refused.json_body
    assert "Retry-After" in refused.headers
    assert "missing" not in refused.json_body, "nothing signed"


def test_one_question_cannot_sign_uploads_far_past_the_byte_budget(client: AuthedHttp, anonymous: AuthedHttp) -> None:
    # 1 MiB a minute: three 8 MiB assets in one question would be 24 times that.
    key = anonymous.acting_as(make_key(client, bytesPerMinute=1024 * 1024))
    early_in_a_budget_window()
    big = [{"sha256": f"{i:064x}", "size": settings.ASSET_MAX_BYTES, "type": "image/png"} for i in range(3)]
    refused = ask(key, big)
    assert refused.status_code == 429, refused.json_body
    assert "missing" not in refused.json_body, "nothing signed"


def test_a_compressed_question_is_a_415(client: AuthedHttp) -> None:
    body = gzip.compress(json.dumps({"recording": RECORDING, "assets": [entry(PNG)]}).encode())
    answer = client.post(
        "/assets/missing", body=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    assert (answer.status_code, answer.json_body["error"]["code"]) == (415, "unsupported_encoding")


def test_a_question_weighs_its_lookups_and_a_spent_budget_costs_no_lookup(
    client: AuthedHttp, anonymous: AuthedHttp
) -> None:
    # 300 assets weigh 30 requests: the key's whole budget of 30 this minute.
    key = anonymous.acting_as(make_key(client, requestsPerMinute=30))
    heads: list[str] = []
    get_services().s3.meta.events.register("before-call.s3.HeadObject", lambda **kwargs: heads.append("head"))
    many = [{"sha256": f"{i:064x}", "size": 1, "type": "image/png"} for i in range(settings.ASSETS_PER_REQUEST)]
    assert lookup_requests(len(many)) == 30
    early_in_a_budget_window()
    assert ask(key, many).status_code == 200
    assert len(heads) == len(many)
    refused = ask(key, many)
    assert refused.status_code == 429, refused.json_body
    assert "Retry-After" in refused.headers
    assert len(heads) == len(many), "the refused question looked nothing up"


def test_an_asset_held_half_a_retention_is_renewed_in_place(aws: Any) -> None:
    s3 = aws.client("s3")
    bucket = settings.get_settings().bucket
    store(aws, "owner-1", PNG)
    written = s3.head_object(Bucket=bucket, Key=layout.asset_key("owner-1", sha(PNG)))["LastModified"]
    later = written + dt.timedelta(days=200)
    assets = Assets(s3=s3, bucket=bucket, retention_days=365, clock=lambda: later)
    request = AssetsRequest(recording_id=RECORDING, assets=(Wanted(sha(PNG), len(PNG), "image/png"),))
    charged: list[int] = []

    assert assets.missing("owner-1", request, charged.append)["held"] == 1
    renewed = s3.head_object(Bucket=bucket, Key=layout.asset_key("owner-1", sha(PNG)))
    assert renewed["LastModified"] >= written
    assert renewed["ContentType"] == "image/png"
    assert s3.get_object(Bucket=bucket, Key=layout.asset_key("owner-1", sha(PNG)))["Body"].read() == PNG
    assert charged == [], "a held asset charges no upload bytes"


def test_the_replay_gets_short_lived_reads_of_its_owners_assets_only(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, user: User
) -> None:
    body = json.dumps({"sha256": [sha(PNG), sha(FONT)]})
    answer = client.post("/assets/urls", body=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    urls = answer.json_body["urls"]
    assert set(urls) == {sha(PNG), sha(FONT)}
    assert f"owner={user.sub}/sha256={sha(PNG)}" in urllib.parse.unquote(urls[sha(PNG)])
    assert "response-content-disposition=attachment" in urls[sha(PNG)]
    key = anonymous.acting_as(make_key(client))
    refused = key.post("/assets/urls", body=body, headers={"Content-Type": "application/json"})
    assert refused.status_code == 403, "an ingest key reads nothing"
    bad = client.post("/assets/urls", body=b'{"sha256": ["x"]}', headers={"Content-Type": "application/json"})
    assert bad.status_code == 400


def test_a_compacted_recordings_index_lists_the_assets_its_events_use(
    aws: Any, client: AuthedHttp, user: User, deliver: Any
) -> None:
    from chalicelib import compacted

    hero, css = sha(PNG), sha(b"a stylesheet")
    events = [
        {"type": 4, "timestamp": 1, "data": {"href": "https://shop.example/", "width": 800, "height": 600}},
        {
            "type": 7,
            "timestamp": 2,
            "data": {"url": "https://shop.example/hero.png", "payload": {"rr_type": "Sha256", "sha256": hero}},
        },
        {"type": 7, "timestamp": 2, "data": {"url": "https://cdn.example/x.png", "failed": {"message": "unreadable"}}},
        {
            "type": 3,
            "timestamp": 3,
            "data": {
                "source": 0,
                "adds": [],
                "texts": [],
                "removes": [],
                "attributes": [{"id": 5, "attributes": {"_cssText": f"rrweb-asset:sha256={css}"}}],
            },
        },
    ]
    created = client.post("/recordings", body=json.dumps({}), headers={"Content-Type": "application/json"})
    recording = created.json_body["recording"]["id"]
    posted = client.post(
        f"/recordings/{recording}/events",
        body=json.dumps({"seq": 1, "events": events}),
        headers={"Content-Type": "application/json"},
    )
    assert posted.status_code == 202
    deliver()
    from tests.functional.test_compaction import compactor

    assert compactor().compact(user.sub, recording).outcome == "compacted"
    s3 = aws.client("s3")
    bucket = settings.get_settings().bucket
    prefix = layout.events_prefix(user.sub, recording)
    (index_key,) = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
        if layout.compacted_generation(item["Key"]) == (1, True)
    ]
    index = compacted.CompactedIndex.from_json(s3.get_object(Bucket=bucket, Key=index_key)["Body"].read())
    assert index.assets == {hero, css}


def test_deleting_a_recording_leaves_the_assets_another_recording_shares(
    aws: Any, client: AuthedHttp, user: User, deliver: Any
) -> None:
    store(aws, user.sub, PNG)
    announce = {
        "type": 7,
        "timestamp": 2,
        "data": {"url": "https://shop.example/hero.png", "payload": {"rr_type": "Sha256", "sha256": sha(PNG)}},
    }
    json_body = {"Content-Type": "application/json"}
    recordings = []
    for _ in range(2):
        recording = client.post("/recordings", body=json.dumps({}), headers=json_body).json_body["recording"]["id"]
        posted = client.post(
            f"/recordings/{recording}/events",
            body=json.dumps({"seq": 1, "events": [{"type": 4, "timestamp": 1, "data": {}}, announce]}),
            headers=json_body,
        )
        assert posted.status_code == 202
        recordings.append(recording)
    deliver()

    first, second = recordings
    assert client.delete(f"/recordings/{first}").status_code == 204
    assert client.get(f"/recordings/{first}/events").status_code == 404
    # The other recording still reads its events, and the asset they name is still there.
    events = [json.loads(line) for line in client.get(f"/recordings/{second}/events").body.splitlines() if line]
    assert announce in events
    urls = client.post("/assets/urls", body=json.dumps({"sha256": [sha(PNG)]}), headers=json_body).json_body["urls"]
    assert set(urls) == {sha(PNG)}
    held = aws.client("s3").get_object(Bucket=settings.get_settings().bucket, Key=layout.asset_key(user.sub, sha(PNG)))
    assert held["Body"].read() == PNG


# The question riding on a page's batches: a create's body or an events body carries
# ``assets``, and the answer's ``assets`` is what /assets/missing would have said.


class RawJson(str):
    """JSON text put into a body as it is (what json.dumps cannot write: 1e400)."""


def create_with(http: AuthedHttp, question: Any, recording: str = RECORDING) -> Any:
    fields = {"id": recording, "url": "https://shop.example/", "seq": 0, "events": [{"type": 4, "timestamp": 1}]}
    if isinstance(question, RawJson):
        body = (json.dumps(fields)[:-1] + f', "assets": {question}}}').encode()
    else:
        body = json.dumps(fields | ({"assets": question} if question is not ... else {})).encode()
    return http.post("/recordings", body=gzip.compress(body), headers={"Content-Type": "text/plain"})


def batch_with(http: AuthedHttp, question: Any, seq: int, recording: str = RECORDING) -> Any:
    if isinstance(question, RawJson):
        body = f'{{"seq": {seq}, "events": [{{"type": 3, "timestamp": {2 + seq}}}], "assets": {question}}}'.encode()
    else:
        body = json.dumps({"seq": seq, "events": [{"type": 3, "timestamp": 2 + seq}], "assets": question}).encode()
    path = f"/recordings/{recording}/events"
    return http.post(path, body=gzip.compress(body), headers={"Content-Type": "text/plain"})


def test_a_pages_first_request_carries_its_question_and_is_answered_at_no_request_of_its_own(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, user: User
) -> None:
    store(aws, user.sub, PNG)
    key = anonymous.acting_as(make_key(client))
    created = create_with(key, [entry(PNG), entry(FONT, "font/woff2")])
    assert created.status_code == 201, created.json_body
    assert created.json_body["firstBatch"]["seq"] == 0
    answer = created.json_body["assets"]
    assert answer["held"] == 1
    (missing,) = answer["missing"]
    assert missing["sha256"] == sha(FONT)
    assert missing["upload"]["headers"]["Content-Type"] == "font/woff2"
    assert f"owner={user.sub}/" in urllib.parse.unquote(missing["upload"]["url"])
    # A later batch carries the question about what the page found since.
    later = batch_with(key, [entry(b"later" * 10)], seq=1)
    assert later.status_code == 202, later.json_body
    assert [item["sha256"] for item in later.json_body["assets"]["missing"]] == [sha(b"later" * 10)]
    # Without a question, no answer to one.
    assert "assets" not in batch_with(key, None, seq=2).json_body


@pytest.mark.parametrize(
    ("question", "status", "code"),
    [
        ({"sha256": "a" * 64}, 400, "invalid_assets"),
        ([{"sha256": "ABC", "size": 1, "type": "image/png"}], 400, "invalid_assets"),
        ([{"sha256": "a" * 64, "size": 10, "type": "text/html"}], 400, "invalid_assets"),
        ([{"sha256": f"{i:064x}", "size": 1, "type": "image/png"} for i in range(301)], 413, "too_many_assets"),
        ([{"sha256": "a" * 64, "size": 10, "type": ["image/png"]}], 400, "invalid_assets"),
        ([{"sha256": "a" * 64, "size": 10, "type": {}}], 400, "invalid_assets"),
        (RawJson('[{"sha256": "' + "a" * 64 + '", "size": 1e400, "type": "image/png"}]'), 400, "invalid_assets"),
    ],
    ids=["not-a-list", "bad-hash", "html", "too-many", "type-list", "type-object", "size-past-a-double"],
)
def test_a_bad_question_on_a_batch_refuses_the_batch_whole_and_writes_nothing(
    aws: Any, client: AuthedHttp, question: Any, status: int, code: str
) -> None:
    refused = create_with(client, question)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (status, code)
    assert client.get(f"/recordings/{RECORDING}").status_code == 404, "no recording was created"
    assert create_with(client, ...).status_code == 201
    refused = batch_with(client, question, seq=1)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (status, code)
    assert [json.loads(record)["seq"] for record in stream_records(aws)] == [0], "the refused batch wrote nothing"
    assert batch_with(client, None, seq=1).status_code == 202


def test_a_spent_byte_budget_is_said_in_the_answer_and_the_batch_is_still_acknowledged(
    client: AuthedHttp, anonymous: AuthedHttp
) -> None:
    key = anonymous.acting_as(make_key(client, bytesPerMinute=1024 * 1024))
    early_in_a_budget_window()
    big = [{"sha256": f"{i:064x}", "size": settings.ASSET_MAX_BYTES, "type": "image/png"} for i in range(3)]
    created = create_with(key, big)
    assert created.status_code == 201, created.json_body
    assert created.json_body["assets"] == {
        "error": {"code": "rate_limited", "message": created.json_body["assets"]["error"]["message"]}
    }
    assert created.json_body["firstBatch"]["events"] == 1, "the batch was written"


def test_a_batchs_question_weighs_its_lookups_against_the_request_budget(
    client: AuthedHttp, anonymous: AuthedHttp
) -> None:
    # The create weighs 1 + 30 (300 assets): past a budget of 30 requests, the next is refused.
    key = anonymous.acting_as(make_key(client, requestsPerMinute=30))
    many = [{"sha256": f"{i:064x}", "size": 1, "type": "image/png"} for i in range(settings.ASSETS_PER_REQUEST)]
    early_in_a_budget_window()
    assert create_with(key, many).status_code == 201
    refused = batch_with(key, None, seq=1)
    assert refused.status_code == 429, refused.json_body


def test_an_asset_store_that_does_not_answer_leaves_the_batch_acknowledged(client: AuthedHttp) -> None:
    from botocore.exceptions import ClientError

    def fail(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "HeadObject")

    get_services().s3.meta.events.register("before-call.s3.HeadObject", fail)
    try:
        created = create_with(client, [entry(PNG)])
    finally:
        get_services().s3.meta.events.unregister("before-call.s3.HeadObject", fail)
    assert created.status_code == 201, created.json_body
    assert created.json_body["assets"]["error"]["code"] == "unavailable"
    assert created.json_body["firstBatch"]["events"] == 1


def test_a_question_claiming_more_than_a_page_keeps_is_refused_whole_and_spends_no_budget(
    client: AuthedHttp, anonymous: AuthedHttp
) -> None:
    # 300 claimed assets of 8 MiB (2.3 GiB): a few KB that would spend a key's whole budget.
    key = anonymous.acting_as(make_key(client))
    early_in_a_budget_window()
    claims = [{"sha256": f"{i:064x}", "size": settings.ASSET_MAX_BYTES, "type": "image/png"} for i in range(300)]
    created = create_with(key, claims)
    assert created.status_code == 201, created.json_body
    assert created.json_body["assets"]["error"]["code"] == "too_many_asset_bytes"
    # The recording's batches still go in, and an honest page's question is still answered.
    later = batch_with(key, [entry(PNG)], seq=1)
    assert later.status_code == 202, later.json_body
    assert [item["sha256"] for item in later.json_body["assets"]["missing"]] == [sha(PNG)]


def test_spent_upload_bytes_never_keep_the_batches_out(client: AuthedHttp, anonymous: AuthedHttp) -> None:
    key = anonymous.acting_as(make_key(client, bytesPerMinute=1024 * 1024))
    early_in_a_budget_window()
    big = [{"sha256": f"{i:064x}", "size": 4 * 1024 * 1024, "type": "image/png"} for i in range(2)]
    assert create_with(key, big).json_body["assets"]["error"]["code"] == "rate_limited"
    for seq in range(1, 4):
        assert batch_with(key, None, seq=seq).status_code == 202, "the recording goes on"
