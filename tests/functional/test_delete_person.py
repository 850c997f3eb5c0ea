"""Deleting a person (every recording of one identified visitor) and the list's selection, in process (moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.aws import get_services
from tests.support.accounts import User, make_user
from tests.support.http import AuthedHttp

JSON = {"Content-Type": "application/json"}


def create(client: AuthedHttp, body: dict[str, Any], workspace: str | None = None) -> str:
    headers = {**JSON, **({"X-Workspace": workspace} if workspace else {})}
    created = client.post("/recordings", body=json.dumps(body), headers=headers)
    assert created.status_code in (200, 201), created.json_body  # 200: the session's next page view
    return str(created.json_body["recording"]["id"])


def ids(client: AuthedHttp, workspace: str | None = None) -> set[str]:
    headers = {"X-Workspace": workspace} if workspace else {}
    return {entry["id"] for entry in client.get("/recordings?limit=100", headers=headers).json_body["recordings"]}


def test_a_person_is_deleted_across_all_their_recordings_a_batch_at_a_time(
    client: AuthedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "DELETE_BATCH", 3)
    theirs = [create(client, {"user": {"id": "person@shop.example"}}) for _ in range(5)]
    # Identified later, on a recording created anonymously: indexed as well.
    later = create(client, {"id": "identified-later"})
    create(client, {"id": "identified-later", "view": 2, "user": {"id": "person@shop.example"}})
    others = {create(client, {"user": {"id": "someone-else"}}), create(client, {})}

    reports = []
    while True:
        answer = client.delete(f"/people/{'person%40shop.example'}/recordings")
        assert answer.status_code == 200, answer.json_body
        reports.append(answer.json_body)
        if not answer.json_body["more"]:
            break
    deleted = [rid for report in reports for rid in report["deleted"]]
    assert sorted(deleted) == sorted([*theirs, later])
    assert all(len(report["deleted"]) <= 3 for report in reports)
    assert reports[-1]["userId"] == "person@shop.example"
    assert ids(client) == others
    nothing = client.delete("/people/nobody/recordings").json_body
    assert (nothing["deleted"], nothing["more"]) == ([], False)


def test_the_lists_selection_is_deleted_and_a_report_says_what_was_not_there(client: AuthedHttp) -> None:
    chosen = [create(client, {}) for _ in range(3)]
    kept = create(client, {})
    answer = client.post(
        "/recordings/delete", body=json.dumps({"ids": [*chosen, chosen[0], "never-existed-1"]}), headers=JSON
    )
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body == {"deleted": chosen, "notFound": ["never-existed-1"]}
    assert ids(client) == {kept}


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": []}, {"ids": "abc"}, {"ids": ["short"]}, {"ids": [5]}, {"ids": ["a" * 8] * 51 + ["b" * 8]}],
)
def test_a_bad_selection_is_a_400_naming_ids_and_deletes_nothing(client: AuthedHttp, body: Any) -> None:
    kept = create(client, {})
    answer = client.post("/recordings/delete", body=json.dumps(body), headers=JSON)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "invalid_ids")
    assert ids(client) == {kept}


def test_deleting_people_and_selections_is_for_admins_and_stays_in_the_workspace(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, user: User
) -> None:
    workspace = client.post("/workspaces", body='{"name": "Team"}', headers=JSON).json_body["id"]
    in_team = create(client, {"user": {"id": "person-1"}}, workspace)
    personal = create(client, {"user": {"id": "person-1"}})
    bob = make_user(aws, "bob@example.com")
    get_services().workspaces.add_member(workspace, user=bob.sub, email=bob.email, role="member")
    as_bob = anonymous.acting_as(bob.headers)
    team = {"X-Workspace": workspace}
    refused = as_bob.delete("/people/person-1/recordings", headers=team)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (403, "admin_only")
    selection = as_bob.post("/recordings/delete", body=json.dumps({"ids": [in_team]}), headers={**JSON, **team})
    assert selection.status_code == 403
    assert client.delete("/people/person-1/recordings", headers=team).json_body["deleted"] == [in_team]
    assert ids(client) == {personal}, "another workspace's recordings of the same person stay"
    too_long = client.delete(f"/people/{'u' * 300}/recordings")
    assert (too_long.status_code, too_long.json_body["error"]["code"]) == (400, "invalid_user")


def test_recordings_identified_before_the_user_index_join_it_once_migrated(client: AuthedHttp, user: User) -> None:
    from chalicelib.schema import OWNER_USER_ATTRIBUTE

    old = [create(client, {"user": {"id": "person-2"}}) for _ in range(2)]
    table = get_services().metadata
    # As stored before the index existed: the user, and no index key.
    for rid in old:
        item = table.get(user.sub, rid)
        assert item is not None
        table._table.update_item(Key={"pk": item["pk"]}, UpdateExpression=f"REMOVE {OWNER_USER_ATTRIBUTE}")
    assert client.delete("/people/person-2/recordings").json_body["deleted"] == []
    assert table.index_users() == 2
    assert table.index_users() == 0, "once"
    assert sorted(client.delete("/people/person-2/recordings").json_body["deleted"]) == sorted(old)
