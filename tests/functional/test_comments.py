"""Comments on a recording's timeline, in process (moto): members write them, they go with the recording."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import layout, settings
from chalicelib.aws import get_services
from tests.support.accounts import User, make_user
from tests.support.http import AuthedHttp

JSON = {"Content-Type": "application/json"}


def recording(client: AuthedHttp, workspace: str | None = None) -> str:
    headers = {**JSON, **({"X-Workspace": workspace} if workspace else {})}
    return str(client.post("/recordings", body="{}", headers=headers).json_body["recording"]["id"])


def comment(http: AuthedHttp, rid: str, body: Any, workspace: str | None = None) -> Any:
    headers = {**JSON, **({"X-Workspace": workspace} if workspace else {})}
    return http.post(f"/recordings/{rid}/comments", body=json.dumps(body), headers=headers)


def test_comments_are_listed_by_moment_and_go_with_the_recording(aws: Any, client: AuthedHttp, user: User) -> None:
    rid = recording(client)
    later = comment(client, rid, {"at": 9000, "text": "  checkout button is dead here  "})
    assert later.status_code == 201, later.json_body
    earlier = comment(client, rid, {"at": 1500, "text": "first look\nat the menu"}).json_body
    listed = client.get(f"/recordings/{rid}/comments").json_body["comments"]
    assert [(c["at"], c["text"]) for c in listed] == [
        (1500, "first look\nat the menu"),
        (9000, "checkout button is dead here"),
    ]
    assert listed[0] == earlier
    assert (earlier["author"], earlier["authorEmail"]) == (user.sub, user.email)

    s3, bucket = aws.client("s3"), settings.get_settings().bucket
    prefix = layout.comments_prefix(user.sub, rid)
    assert len(s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]) == 2
    assert client.delete(f"/recordings/{rid}").status_code == 204
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix), "deleted with the recording"
    assert client.get(f"/recordings/{rid}/comments").status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": "no moment"}, "invalid_at"),
        ({"at": -5, "text": "x"}, "invalid_at"),
        ({"at": "5", "text": "x"}, "invalid_at"),
        ({"at": 5}, "invalid_text"),
        ({"at": 5, "text": "   "}, "invalid_text"),
        ({"at": 5, "text": "x" * 2001}, "invalid_text"),
        ({"at": 5, "text": ["x"]}, "invalid_text"),
        ({"at": 5, "text": "bell\x07"}, "invalid_text"),
        # Reversed or invisible text: what a teammate reads must be what was written.
        ({"at": 5, "text": "\u202eevil comment"}, "invalid_text"),
        ({"at": 5, "text": "\u200b\u200b"}, "invalid_text"),
    ],
)
def test_a_bad_comment_is_a_400_naming_the_field_and_stores_nothing(
    client: AuthedHttp, body: dict[str, Any], code: str
) -> None:
    rid = recording(client)
    answer = comment(client, rid, body)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, code)
    assert client.get(f"/recordings/{rid}/comments").json_body["comments"] == []


def test_members_comment_authors_and_admins_delete_and_outsiders_see_nothing(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, user: User
) -> None:
    workspace = client.post("/workspaces", body='{"name": "Team"}', headers=JSON).json_body["id"]
    rid = recording(client, workspace)
    bob = make_user(aws, "bob@example.com")
    get_services().workspaces.add_member(workspace, user=bob.sub, email=bob.email, role="member")
    as_bob = anonymous.acting_as(bob.headers)
    team = {"X-Workspace": workspace}
    bobs = comment(as_bob, rid, {"at": 10, "text": "from bob"}, workspace).json_body
    admins = comment(client, rid, {"at": 20, "text": "from the admin"}, workspace).json_body

    refused = as_bob.delete(f"/recordings/{rid}/comments/{admins['id']}", headers=team)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (403, "not_yours")
    assert as_bob.delete(f"/recordings/{rid}/comments/{bobs['id']}", headers=team).status_code == 204
    again = comment(as_bob, rid, {"at": 11, "text": "again"}, workspace).json_body
    assert client.delete(f"/recordings/{rid}/comments/{again['id']}", headers=team).status_code == 204
    assert client.delete(f"/recordings/{rid}/comments/{again['id']}", headers=team).status_code == 404
    assert client.delete(f"/recordings/{rid}/comments/not-an-id", headers=team).status_code == 404
    listed = client.get(f"/recordings/{rid}/comments", headers=team).json_body["comments"]
    assert [c["text"] for c in listed] == ["from the admin"]

    outsider = anonymous.acting_as(make_user(aws, "eve@example.com").headers)
    assert outsider.get(f"/recordings/{rid}/comments").status_code == 404
    assert comment(outsider, rid, {"at": 1, "text": "hi"}).status_code == 404
