"""Share links in process (moto): a read-only replay of one recording, opened without an account."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from chalicelib.aws import get_services
from chalicelib.limits import VisitorLimits
from tests.support.accounts import User, make_user
from tests.support.http import AuthedHttp

JSON = {"Content-Type": "application/json"}
HERO = "ab" * 32
LOGO = "cd" * 32
EVENTS = [
    {"type": 4, "timestamp": 1_000, "data": {"href": "https://shop.example/", "width": 800, "height": 600}},
    {
        "type": 7,
        "timestamp": 1_001,
        "data": {"url": "https://shop.example/hero.png", "payload": {"rr_type": "Sha256", "sha256": HERO}},
    },
    {
        "type": 3,
        "timestamp": 1_002,
        "data": {
            "source": 0,
            "adds": [],
            "removes": [],
            "texts": [],
            "attributes": [{"id": 5, "attributes": {"src": f"rrweb-asset:sha256={LOGO}"}}],
        },
    },
]


def recorded(client: AuthedHttp, deliver: Any, title: str = "Checkout") -> str:
    created = client.post("/recordings", body=json.dumps({"title": title}), headers=JSON)
    recording = str(created.json_body["recording"]["id"])
    posted = client.post(f"/recordings/{recording}/events", body=json.dumps({"seq": 0, "events": EVENTS}), headers=JSON)
    assert posted.status_code == 202
    deliver()
    return recording


def share(client: AuthedHttp, recording: str, **body: Any) -> Any:
    return client.post(f"/recordings/{recording}/shares", body=json.dumps(body), headers=JSON)


def test_a_link_opens_one_recordings_replay_without_an_account(
    client: AuthedHttp, anonymous: AuthedHttp, user: User, deliver: Any
) -> None:
    recording = recorded(client, deliver)
    created = share(client, recording, at=1500)
    assert created.status_code == 201, created.json_body
    token = created.json_body["token"]
    assert token.startswith("rrs_")
    assert client.get(f"/recordings/{recording}/shares").json_body["shares"] == [
        {"id": created.json_body["id"], "at": 1500, "expiresAt": created.json_body["expiresAt"], "createdBy": user.sub}
    ]

    opened = anonymous.get(f"/shared/{token}", headers={})
    assert opened.status_code == 200, opened.json_body
    assert opened.json_body["at"] == 1500
    shown = opened.json_body["recording"]
    assert (shown["id"], shown["title"]) == (recording, "Checkout")
    assert not {"userId", "traits", "screenshotUrl", "referrer"} & set(shown), "the replay only"

    page = anonymous.get(f"/shared/{token}/events").json_body
    assert page["events"] == EVENTS
    assert set(page["assets"]) == {HERO, LOGO}, "the assets its own events name, and no other"
    for url in page["assets"].values():
        assert f"owner={user.sub}/sha256=" in urllib.parse.unquote(url)
    assert anonymous.get(f"/shared/{token}/blocks").json_body["blocks"] == []

    # The token is a link, not a credential: it opens nothing else.
    for path in ("/recordings", f"/recordings/{recording}", "/keys", "/workspaces"):
        assert anonymous.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_link_reads_a_recording_whose_asset_events_are_malformed(
    client: AuthedHttp, anonymous: AuthedHttp, deliver: Any
) -> None:
    # A public ingest key may post any event JSON: an asset event whose data is no object.
    created = client.post("/recordings", body="{}", headers=JSON)
    recording = str(created.json_body["recording"]["id"])
    odd = [*EVENTS[:1], {"type": 7, "timestamp": 5, "data": "x"}, {"type": 7, "timestamp": 6, "data": {"payload": 3}}]
    posted = client.post(f"/recordings/{recording}/events", body=json.dumps({"seq": 0, "events": odd}), headers=JSON)
    assert posted.status_code == 202
    deliver()
    token = share(client, recording).json_body["token"]
    page = anonymous.get(f"/shared/{token}/events")
    assert page.status_code == 200, page.json_body
    assert page.json_body["events"] == odd
    assert page.json_body["assets"] == {}


def test_a_revoked_expired_forged_or_orphaned_link_is_a_link_that_never_existed(
    client: AuthedHttp, anonymous: AuthedHttp, deliver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = recorded(client, deliver)
    revoked = share(client, recording).json_body
    assert client.delete(f"/recordings/{recording}/shares/{revoked['id']}").status_code == 204
    expiring = share(client, recording, days=1).json_body
    kept = share(client, recording).json_body

    def refused(token: str) -> None:
        for path in (f"/shared/{token}", f"/shared/{token}/events", f"/shared/{token}/blocks"):
            answer = anonymous.get(path)
            assert (answer.status_code, answer.json_body["error"]["code"]) == (404, "no_such_link"), path

    refused(revoked["token"])
    refused(kept["token"][:-3] + "AAA")
    refused("rrs_nothing")
    refused("x" * 500)
    monkeypatch.setattr(get_services().shares, "_clock", lambda: expiring["expiresAt"] / 1000 + 1)
    refused(expiring["token"])
    monkeypatch.undo()
    assert anonymous.get(f"/shared/{kept['token']}").status_code == 200
    assert client.delete(f"/recordings/{recording}").status_code == 204
    refused(kept["token"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"days": 0}, "invalid_days"),
        ({"days": 31}, "invalid_days"),
        ({"days": "7"}, "invalid_days"),
        ({"days": 1.5}, "invalid_days"),
        ({"at": -1}, "invalid_at"),
        ({"at": "10"}, "invalid_at"),
        ({"at": True}, "invalid_at"),
    ],
)
def test_a_bad_link_request_is_a_400_naming_the_field(
    client: AuthedHttp, deliver: Any, body: dict[str, Any], code: str
) -> None:
    recording = recorded(client, deliver)
    answer = share(client, recording, **body)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, code)
    assert client.get(f"/recordings/{recording}/shares").json_body["shares"] == []


def test_only_the_workspaces_members_share_its_recordings(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, deliver: Any
) -> None:
    recording = recorded(client, deliver)
    other = anonymous.acting_as(make_user(aws, "other@example.com").headers)
    assert share(other, recording).status_code == 404
    assert other.get(f"/recordings/{recording}/shares").status_code == 404
    link = share(client, recording).json_body
    assert other.delete(f"/recordings/{recording}/shares/{link['id']}").status_code == 404
    assert anonymous.get(f"/shared/{link['token']}").status_code == 200, "still there"
    assert share(client, "no-such-recording").status_code == 404


def test_the_public_routes_are_limited_per_client_address(
    client: AuthedHttp, anonymous: AuthedHttp, deliver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = recorded(client, deliver)
    token = share(client, recording).json_body["token"]
    monkeypatch.setattr(get_services().shares, "_clients", VisitorLimits(recording_per_minute=3, client_per_minute=3))
    statuses = [anonymous.get(f"/shared/{token}").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    refused = anonymous.get(f"/shared/{token}")
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert anonymous.get("/shared/rrs_guessing").status_code == 429, "guesses are counted too"


def test_a_compacted_recordings_link_lists_its_blocks_with_the_reads_of_the_assets_its_index_names(
    client: AuthedHttp, anonymous: AuthedHttp, user: User, deliver: Any
) -> None:
    from tests.functional.test_compaction import compactor

    recording = recorded(client, deliver)
    assert compactor().compact(user.sub, recording).outcome == "compacted"
    token = share(client, recording).json_body["token"]
    listed = anonymous.get(f"/shared/{token}/blocks").json_body
    assert listed["blocks"], listed
    assert sum(block["events"] for block in listed["blocks"]) == len(EVENTS)
    assert set(listed["assets"]) == {HERO, LOGO}
    assert "assetHashes" not in listed
    # The owner's own /blocks answer is as it was: no asset list.
    assert "assetHashes" not in client.get(f"/recordings/{recording}/blocks").json_body
