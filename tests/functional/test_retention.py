"""Retention per workspace, in process (moto): set within the stack's, and enforced by the hourly expiry."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

import app
from chalicelib import layout, retention
from chalicelib.aws import get_services
from chalicelib.ids import recording_key
from local.schedule import scheduled_event
from tests.support.accounts import User
from tests.support.http import AuthedHttp
from tests.support.in_process import clear_caches

JSON = {"Content-Type": "application/json"}
STACK_DAYS = 30
DAY_MS = 86_400_000


@pytest.fixture(autouse=True)
def stack_retention(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack keeps recordings 30 days, as the local stack's."""
    monkeypatch.setenv("RRWEB_RETENTION_DAYS", str(STACK_DAYS))
    clear_caches()


def headers(workspace: str | None) -> dict[str, str]:
    return {**JSON, **({"X-Workspace": workspace} if workspace else {})}


def team(client: AuthedHttp) -> str:
    created = client.post("/workspaces", body=json.dumps({"name": "Kept short"}), headers=JSON)
    assert created.status_code == 201, created.json_body
    return str(created.json_body["id"])


def configure(client: AuthedHttp, workspace: str, body: Any) -> Any:
    return client.request("PATCH", f"/workspaces/{workspace}", headers=JSON, body=json.dumps(body))


def recording(client: AuthedHttp, workspace: str | None = None, *, days_old: float = 0) -> str:
    """A recording with events and a comment, created ``days_old`` days ago."""
    created = client.post("/recordings", body="{}", headers=headers(workspace))
    assert created.status_code == 201, created.json_body
    rid = str(created.json_body["recording"]["id"])
    batch = json.dumps({"seq": 0, "events": [{"type": 4, "timestamp": 1, "data": {}}]})
    assert client.post(f"/recordings/{rid}/events", body=batch, headers=headers(workspace)).status_code == 202
    comment = client.post(f"/recordings/{rid}/comments", body='{"at": 1, "text": "hi"}', headers=headers(workspace))
    assert comment.status_code == 201, comment.json_body
    if days_old:
        owner = created.json_body["recording"].get("owner") or workspace_of(client, workspace)
        at = int(time.time() * 1000 - days_old * DAY_MS)
        get_services().metadata.table.update_item(
            Key=recording_key(owner, rid),
            UpdateExpression="SET createdAt = :at, createdKey = :key",
            ExpressionAttributeValues={":at": at, ":key": f"{at:013d}#{rid}"},
        )
    return rid


def workspace_of(client: AuthedHttp, workspace: str | None) -> str:
    return workspace or str(client.get("/workspaces").json_body["workspaces"][0]["id"])


def objects(aws: Any, owner: str, rid: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(
        Bucket=os.environ["RRWEB_BUCKET"], Prefix=layout.recording_prefix(owner, rid)
    )
    return [entry["Key"] for entry in listed.get("Contents", [])]


def expire() -> dict[str, Any]:
    """One run of the hourly function, as EventBridge invokes it."""
    return app.expire_recordings(scheduled_event(rule="expire_recordings", region="us-east-1"), None)


def test_a_workspace_keeps_the_stacks_retention_until_an_admin_shortens_it(client: AuthedHttp, user: User) -> None:
    workspace = team(client)
    described = client.get(f"/workspaces/{workspace}").json_body
    assert (described["retentionDays"], described["ownRetention"], described["stackRetentionDays"]) == (30, False, 30)
    changed = configure(client, workspace, {"retentionDays": 7})
    assert changed.status_code == 200, changed.json_body
    assert (changed.json_body["retentionDays"], changed.json_body["ownRetention"]) == (7, True)
    assert client.get(f"/workspaces/{workspace}").json_body["retentionDays"] == 7
    # The personal workspace too; an invite domain is a team's alone.
    assert configure(client, user.sub, {"retentionDays": 14}).json_body["retentionDays"] == 14
    personal = configure(client, user.sub, {"allowedDomain": "example.com", "retentionDays": 3})
    assert (personal.status_code, personal.json_body["error"]["code"]) == (409, "personal_workspace")
    assert client.get(f"/workspaces/{user.sub}").json_body["retentionDays"] == 14, "a refused request changes nothing"
    back = configure(client, workspace, {"retentionDays": None}).json_body
    assert (back["retentionDays"], back["ownRetention"]) == (30, False)
    assert get_services().workspaces.with_retention() == [(user.sub, 14)]


@pytest.mark.parametrize("days", [0, -1, STACK_DAYS + 1, 1.5, "7", True, [7], {"days": 7}])
def test_a_retention_outside_one_day_to_the_stacks_is_a_400_naming_it(client: AuthedHttp, days: Any) -> None:
    workspace = team(client)
    assert configure(client, workspace, {"retentionDays": 10}).status_code == 200
    refused = configure(client, workspace, {"retentionDays": days, "allowedDomain": "example.com"})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (400, "invalid_retention")
    assert "retentionDays" in refused.json_body["error"]["message"]
    after = client.get(f"/workspaces/{workspace}").json_body
    assert (after["retentionDays"], after["allowedDomain"]) == (10, None), "nothing changed"


def test_a_settings_change_names_something_to_change(client: AuthedHttp) -> None:
    refused = configure(client, team(client), {"retention": 7})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (400, "invalid_settings")


def test_the_expiry_deletes_what_is_past_its_workspaces_retention_and_nothing_else(
    aws: Any, client: AuthedHttp, user: User
) -> None:
    short = team(client)
    assert configure(client, short, {"retentionDays": 7}).status_code == 200
    old = recording(client, short, days_old=8)
    young = recording(client, short, days_old=6)
    # The personal workspace keeps the stack's 30 days: its 8-day-old recording stays.
    personal_old = recording(client, days_old=8)
    assert objects(aws, short, old), "events and a comment were stored"

    counts = expire()
    assert counts == {"workspaces": 1, "deleted": 1, "more": False}
    assert client.get(f"/recordings/{old}", headers=headers(short)).status_code == 404
    assert objects(aws, short, old) == [], "its events, comments and all"
    assert client.get(f"/recordings/{young}", headers=headers(short)).status_code == 200
    assert client.get(f"/recordings/{personal_old}").status_code == 200
    assert expire()["deleted"] == 0


def test_a_long_backlog_is_deleted_a_bounded_number_a_run(client: AuthedHttp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "PER_WORKSPACE", 2)
    monkeypatch.setattr(retention, "PAGE", 2)
    short = team(client)
    backlog = {recording(client, short, days_old=20 + index) for index in range(5)}
    assert configure(client, short, {"retentionDays": 10}).status_code == 200
    runs: list[dict[str, Any]] = []
    while not runs or runs[-1]["more"]:
        runs.append(expire())
        assert len(runs) < 10
    assert [run["deleted"] for run in runs] == [2, 2, 1]
    listed = client.get("/recordings", headers=headers(short)).json_body["recordings"]
    assert not backlog & {entry["id"] for entry in listed}


def test_a_run_short_of_time_starts_no_deletion(client: AuthedHttp) -> None:
    short = team(client)
    assert configure(client, short, {"retentionDays": 1}).status_code == 200
    old = recording(client, short, days_old=2)
    counts = get_services().expiry.run(seconds_left=lambda: retention.MARGIN_SECONDS - 1)
    assert counts == {"workspaces": 0, "deleted": 0, "more": True}
    assert client.get(f"/recordings/{old}", headers=headers(short)).status_code == 200
