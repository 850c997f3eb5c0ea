"""Search and filters on GET /recordings: Query and BatchGetItem only, a bounded read per call, every match once.

``from``/``to`` narrow the byOwner index's key condition; the other filters are applied
to the items the page reads, at most ``LIST_SCAN_ENTRIES`` index entries per call, so a
page may hold fewer matches than ``limit`` (even none) and still a cursor.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib import recordings, settings, validation
from chalicelib.aws import get_services
from chalicelib.ids import recording_key
from tests.support.accounts import make_user
from tests.support.http import AuthedHttp, post_json
from tests.support.in_process import NAMES

# About 17 s of one core: the parallel run starts it first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=17)

START = 1_800_000_000_000


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Creation times one second apart, in order: the n-th recording made is created at START + n s."""
    now = [START]

    def tick() -> int:
        now[0] += 1000
        return now[0]

    monkeypatch.setattr(recordings, "now_ms", tick)
    return now


def make(
    client: Any,
    recording_id: str,
    *,
    url: str = "https://site.test/",
    title: str = "Home",
    user: str | None = None,
    duration: int | None = None,
    errors: int = 0,
    later_pages: tuple[tuple[str, str], ...] = (),
) -> None:
    """A recording made through the API: its create, later page views, one batch of the given span and errors."""
    body: dict[str, Any] = {"id": recording_id, "url": url, "title": title, "view": 1}
    if user is not None:
        body["user"] = {"id": user}
    assert post_json(client, "/recordings", body).status_code == 201
    for view, (page_url, page_title) in enumerate(later_pages, start=2):
        page = {"id": recording_id, "url": page_url, "title": page_title, "view": view}
        assert post_json(client, "/recordings", page).status_code == 200
    if duration is not None:
        events = [{"type": 4, "timestamp": 1000}, *([{"type": 6, "timestamp": 1000}] * errors)]
        events.append({"type": 3, "timestamp": 1000 + duration})
        batch = {"seq": 0, "events": events, "errors": errors}
        assert post_json(client, f"/recordings/{recording_id}/events", batch).status_code == 202


def ids(client: Any, query: str = "", *, limit: int = 200) -> list[str]:
    """Every recording id the list returns for ``query``, following cursors (at most 100 calls)."""
    found: list[str] = []
    cursor = None
    for _ in range(100):
        params = f"limit={limit}" + (f"&{query}" if query else "") + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/recordings?{params}")
        assert response.status_code == 200, response.body
        found += [recording["id"] for recording in response.json_body["recordings"]]
        cursor = response.json_body["cursor"]
        if cursor is None:
            return found
    raise AssertionError("the cursor never ended")


@pytest.fixture
def catalogue(client: Any, deliver: Any, clock: list[int]) -> dict[str, int]:
    """Eight recordings, created one second apart (oldest first); returns their creation times."""
    created: dict[str, int] = {}
    specs: list[tuple[str, dict[str, Any]]] = [
        ("rec-shoes-1", {"url": "https://shop.test/Shoes", "title": "Red shoes", "duration": 5_000}),
        ("rec-cart-01", {"url": "https://shop.test/cart", "title": "Cart", "user": "alice", "duration": 60_000}),
        ("rec-blog-01", {"url": "https://blog.test/", "title": "Blog", "duration": 600_000, "errors": 2}),
        (
            "rec-pages-1",
            {
                "url": "https://shop.test/",
                "title": "Shop",
                "later_pages": (("https://shop.test/checkout", "Checkout"), ("https://shop.test/thanks", "Thank You")),
                "duration": 120_000,
            },
        ),
        ("rec-alice-2", {"url": "https://docs.test/", "title": "Docs", "user": "alice", "errors": 1, "duration": 1}),
        ("rec-bob-001", {"url": "https://docs.test/api", "title": "API", "user": "bob", "duration": 30_000}),
        ("rec-empty-1", {"url": "https://docs.test/empty", "title": "Nothing yet"}),
        ("rec-alicex-", {"url": "https://x.test/", "title": "X", "user": "alice-x", "duration": 10_000}),
    ]
    for recording_id, spec in specs:
        make(client, recording_id, **spec)
        created[recording_id] = int(client.get(f"/recordings/{recording_id}").json_body["createdAt"])
    deliver()
    return created


NEWEST_FIRST = [
    "rec-alicex-",
    "rec-empty-1",
    "rec-bob-001",
    "rec-alice-2",
    "rec-pages-1",
    "rec-blog-01",
    "rec-cart-01",
    "rec-shoes-1",
]


def test_without_filters_the_list_is_unchanged(client: Any, catalogue: dict[str, int]) -> None:
    assert ids(client) == NEWEST_FIRST
    assert ids(client, limit=3) == NEWEST_FIRST


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # q: case-insensitive, in url, title, any page's url or title, and the user id
        ("q=shoes", ["rec-shoes-1"]),
        ("q=SHOES", ["rec-shoes-1"]),
        ("q=thank%20you", ["rec-pages-1"]),
        ("q=CHECKOUT", ["rec-pages-1"]),
        ("q=shop.test", ["rec-pages-1", "rec-cart-01", "rec-shoes-1"]),
        ("q=alice", ["rec-alicex-", "rec-alice-2", "rec-cart-01"]),
        ("q=nothing%20yet", ["rec-empty-1"]),
        ("q=no-such-text", []),
        # user: exact
        ("user=alice", ["rec-alice-2", "rec-cart-01"]),
        ("user=ALICE", []),
        ("user=bob", ["rec-bob-001"]),
        # durations (ms between the first and last event), both ends included
        ("minDurationMs=60000", ["rec-pages-1", "rec-blog-01", "rec-cart-01"]),
        ("maxDurationMs=10000", ["rec-alicex-", "rec-empty-1", "rec-alice-2", "rec-shoes-1"]),
        ("minDurationMs=10000&maxDurationMs=60000", ["rec-alicex-", "rec-bob-001", "rec-cart-01"]),
        # errors=1: only recordings with console errors
        ("errors=1", ["rec-alice-2", "rec-blog-01"]),
        ("errors=0", NEWEST_FIRST),
        # combinations
        ("user=alice&errors=1", ["rec-alice-2"]),
        ("q=docs&user=bob", ["rec-bob-001"]),
        ("q=shop&minDurationMs=100000", ["rec-pages-1"]),
        ("q=&user=", NEWEST_FIRST),  # empty values are no filter
    ],
)
def test_each_filter_and_combination(client: Any, catalogue: dict[str, int], query: str, expected: list[str]) -> None:
    assert ids(client, query) == expected
    assert ids(client, query, limit=1) == expected  # the same, one per page


def test_a_creation_range_is_the_index_key_condition(client: Any, catalogue: dict[str, int]) -> None:
    blog, bob = catalogue["rec-blog-01"], catalogue["rec-bob-001"]
    assert ids(client, f"from={blog}&to={bob}") == ["rec-bob-001", "rec-alice-2", "rec-pages-1", "rec-blog-01"]
    assert ids(client, f"from={bob}") == ["rec-alicex-", "rec-empty-1", "rec-bob-001"]
    assert ids(client, f"to={blog}") == ["rec-blog-01", "rec-cart-01", "rec-shoes-1"]
    assert ids(client, f"from={bob}&to={bob}") == ["rec-bob-001"]
    assert ids(client, f"from={bob + 1}&to={bob + 999}") == []
    assert ids(client, f"from={blog}&to={bob}&user=alice") == ["rec-alice-2"]
    assert ids(client, f"from={blog}&to={bob}", limit=1) == ["rec-bob-001", "rec-alice-2", "rec-pages-1", "rec-blog-01"]
    with query_log() as calls:
        page = client.get(f"/recordings?from={blog}&to={bob}&limit=2").json_body
    assert len(page["recordings"]) == 2
    ((operation, params), batch) = calls
    assert operation == "Query"
    assert params["KeyConditionExpression"] == "#owner = :owner AND #created BETWEEN :low AND :high"
    assert params["Limit"] == 2  # a range alone reads exactly the page
    assert batch[0] == "BatchGetItem"


@contextmanager
def query_log() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The recordings table's requests (operation, parameters) while inside."""
    calls: list[tuple[str, dict[str, Any]]] = []
    events = get_services().dynamodb.meta.client.meta.events

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == NAMES.table or NAMES.table in params.get("RequestItems", {}):
            calls.append((model.name, dict(params)))

    events.register("before-parameter-build.dynamodb", seen)
    try:
        yield calls
    finally:
        events.unregister("before-parameter-build.dynamodb", seen)


def test_sparse_matches_page_through_bounded_reads_and_each_comes_once(
    client: Any, clock: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 recordings, one in ten a match: with 7 entries examined per call, each page holds
    # none or one, and still carries a cursor.
    monkeypatch.setattr(settings, "LIST_SCAN_ENTRIES", 7)
    made = []
    for n in range(60):
        recording_id = f"sparse-{n:04d}"
        title = "needle here" if n % 10 == 3 else "hay"
        assert post_json(client, "/recordings", {"id": recording_id, "title": title}).status_code == 201
        made.append(recording_id)
    matches = [recording_id for n, recording_id in reversed(list(enumerate(made))) if n % 10 == 3]
    for limit in (1, 2, 50):
        pages = []
        cursor = None
        while True:
            query = f"/recordings?q=NEEDLE&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            with query_log() as calls:
                body = client.get(query).json_body
            queries = [params for operation, params in calls if operation == "Query"]
            assert len(queries) == 1
            assert queries[0]["Limit"] == 7
            assert sum(len(p["RequestItems"][NAMES.table]["Keys"]) for o, p in calls if o == "BatchGetItem") <= 7
            pages.append([recording["id"] for recording in body["recordings"]])
            assert len(pages[-1]) <= limit
            cursor = body["cursor"]
            if cursor is None:
                break
        found = [recording_id for page in pages for recording_id in page]
        assert found == matches  # each exactly once, newest first
        assert [] in pages  # a page may hold no match and still lead on
        assert len(pages) >= 60 // 7


def test_one_call_examines_at_most_the_bound_and_reads_items_in_three_batches(
    client: Any, aws: Any, owner: str
) -> None:
    # The stack's own bound (300), over 320 recordings (written straight to the table).
    table = aws.resource("dynamodb").Table(NAMES.table)
    with table.batch_writer() as batch:
        for n in range(320):
            created = START + n
            recording_id = f"bulk-{n:05d}"
            batch.put_item(
                Item={
                    **recording_key(owner, recording_id),
                    "owner": owner,
                    "recordingId": recording_id,
                    "createdAt": created,
                    "createdKey": f"{created:013d}#{recording_id}",
                    "updatedAt": created,
                    "title": "match" if n in (5, 319) else "other",
                }
            )
    with query_log() as calls:
        first = client.get("/recordings?q=match").json_body
    assert [r["id"] for r in first["recordings"]] == ["bulk-00319"]
    assert first["cursor"] is not None  # 300 entries examined, 20 left
    (query,) = [params for operation, params in calls if operation == "Query"]
    assert query["Limit"] == settings.LIST_SCAN_ENTRIES == 300
    batches = [params for operation, params in calls if operation == "BatchGetItem"]
    assert [len(p["RequestItems"][NAMES.table]["Keys"]) for p in batches] == [100, 100, 100]
    second = client.get(f"/recordings?q=match&cursor={first['cursor']}").json_body
    assert ([r["id"] for r in second["recordings"]], second["cursor"]) == (["bulk-00005"], None)
    # With enough matches early, reading stops at the first BatchGetItem.
    with query_log() as calls:
        other = client.get("/recordings?q=other&limit=10").json_body
    assert len(other["recordings"]) == 10
    assert [o for o, _ in calls].count("BatchGetItem") == 1


def test_other_owners_recordings_are_never_returned(
    client: Any, anonymous: AuthedHttp, aws: Any, catalogue: dict[str, int]
) -> None:
    other = anonymous.acting_as(make_user(aws, "other@example.com").headers)
    make(other, "theirs-shoes", url="https://shop.test/Shoes", title="Red shoes", user="alice", duration=5_000)
    assert ids(other, "q=shoes") == ["theirs-shoes"]
    assert ids(client, "q=shoes") == ["rec-shoes-1"]
    assert ids(client, "user=alice") == ["rec-alice-2", "rec-cart-01"]
    assert ids(other, "user=alice") == ["theirs-shoes"]
    # Another owner's cursor position starts nothing in this owner's index but this owner's.
    cursor = validation.encode_cursor({"recordingId": "theirs-shoes", "createdKey": f"{START:013d}#theirs-shoes"})
    page = client.get(f"/recordings?q=shoes&cursor={cursor}").json_body
    assert all(r["id"] != "theirs-shoes" for r in page["recordings"])


@pytest.mark.parametrize(
    "query",
    [
        "q=" + "x" * (settings.MAX_SEARCH_LENGTH + 1),
        "user=" + "u" * (settings.MAX_USER_ID_LENGTH + 1),
        "from=yesterday",
        "from=-1",
        "from=1.5",
        "to=99999999999999",
        "from=2000&to=1000",
        "minDurationMs=abc",
        "maxDurationMs=-5",
        "minDurationMs=10&maxDurationMs=5",
        "minDurationMs=9007199254740992",
        "errors=yes",
        "errors=2",
    ],
)
def test_bad_filter_values_are_a_400_naming_the_parameter(client: Any, query: str) -> None:
    refused = client.get(f"/recordings?{query}")
    assert refused.status_code == 400
    assert refused.json_body["error"]["code"] == "invalid_parameter"
    name = urllib.parse.parse_qsl(query)[-1][0] if "&" not in query else "must"
    assert name in refused.json_body["error"]["message"]


def test_a_cursor_outside_the_creation_range_is_refused(client: Any, catalogue: dict[str, int]) -> None:
    blog = catalogue["rec-blog-01"]
    page = client.get(f"/recordings?to={blog}&limit=1").json_body
    assert page["cursor"]
    # The same cursor with a range that does not hold it cannot start a query there.
    refused = client.get(f"/recordings?from={blog + 1}&cursor={page['cursor']}")
    assert refused.status_code == 400
    assert refused.json_body["error"]["code"] == "invalid_cursor"


def test_search_never_scans(client: Any, catalogue: dict[str, int]) -> None:
    with query_log() as calls:
        client.get("/recordings?q=shop&user=alice&minDurationMs=1&errors=1&from=1&to=9999999999999")
    assert {operation for operation, _ in calls} <= {"Query", "BatchGetItem"}
    assert json.dumps([params.get("IndexName") for o, params in calls if o == "Query"]) == '["byOwner"]'
