"""Workspaces in process (moto): a personal one per user, team ones with admins and members, checked per request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.aws import get_services
from chalicelib.workspaces import MAX_NAME, MAX_WORKSPACES_PER_USER, is_team_id
from tests.support.accounts import User, make_user
from tests.support.http import AuthedHttp

JSON = {"Content-Type": "application/json"}


def post(http: AuthedHttp, path: str, body: Any, workspace: str | None = None) -> Any:
    headers = {**JSON, **({"X-Workspace": workspace} if workspace else {})}
    return http.post(path, body=json.dumps(body), headers=headers)


def in_workspace(workspace: str) -> dict[str, str]:
    return {"X-Workspace": workspace}


def team(client: AuthedHttp, name: str = "Shop team") -> str:
    created = post(client, "/workspaces", {"name": name})
    assert created.status_code == 201, created.json_body
    workspace = created.json_body["id"]
    assert is_team_id(workspace)
    assert created.json_body["role"] == "admin"
    return str(workspace)


def recording(http: AuthedHttp, workspace: str | None = None) -> str:
    created = post(http, "/recordings", {}, workspace)
    assert created.status_code == 201, created.json_body
    return str(created.json_body["recording"]["id"])


@pytest.fixture
def bob(aws: Any, anonymous: AuthedHttp) -> tuple[User, AuthedHttp]:
    user = make_user(aws, "bob@example.com")
    return user, anonymous.acting_as(user.headers)


def test_what_a_user_had_before_is_their_personal_workspace_unchanged(client: AuthedHttp, user: User) -> None:
    before = recording(client)  # no header: the personal workspace, as before workspaces existed
    assert client.get("/workspaces").json_body["workspaces"] == [
        {"id": user.sub, "name": "Personal", "role": "admin", "personal": True}
    ]
    named = client.get(f"/recordings/{before}", headers=in_workspace(user.sub))
    assert named.status_code == 200, "the personal workspace's id is the user's own"
    listed = client.get("/recordings", headers=in_workspace(user.sub)).json_body["recordings"]
    assert [entry["id"] for entry in listed] == [before]


def test_a_team_workspace_keeps_its_own_recordings_keys_and_assets(client: AuthedHttp, user: User) -> None:
    workspace = team(client)
    personal = recording(client)
    shared = recording(client, workspace)
    in_team = client.get("/recordings", headers=in_workspace(workspace)).json_body["recordings"]
    assert [entry["id"] for entry in in_team] == [shared]
    assert [entry["id"] for entry in client.get("/recordings").json_body["recordings"]] == [personal]
    assert client.get(f"/recordings/{shared}").status_code == 404, "not in the personal workspace"

    # A key made in the team workspace writes there.
    key = post(client, "/keys", {"name": "shop"}, workspace).json_body["key"]
    keyed = post(client.acting_as({"Authorization": f"Bearer {key}"}), "/recordings", {})
    assert keyed.status_code == 201
    in_team = client.get("/recordings", headers=in_workspace(workspace)).json_body["recordings"]
    assert {entry["id"] for entry in in_team} == {shared, keyed.json_body["recording"]["id"]}
    assert client.get("/workspaces").json_body["workspaces"][1] == {
        "id": workspace,
        "name": "Shop team",
        "role": "admin",
        "personal": False,
    }


def test_a_non_member_finds_no_such_workspace_on_any_route(client: AuthedHttp, bob: tuple[User, AuthedHttp]) -> None:
    workspace = team(client)
    shared = recording(client, workspace)
    _, as_bob = bob
    for method, path in (
        ("GET", "/recordings"),
        ("GET", f"/recordings/{shared}"),
        ("GET", f"/recordings/{shared}/events"),
        ("GET", "/keys"),
        ("DELETE", f"/recordings/{shared}"),
        ("POST", "/recordings"),
    ):
        answer = as_bob.request(method, path, headers={**JSON, **in_workspace(workspace)}, body=b"{}")
        assert (answer.status_code, answer.json_body["error"]["code"]) == (404, "no_such_workspace"), (method, path)
    assert as_bob.get(f"/workspaces/{workspace}/members").status_code == 404
    assert client.get(f"/recordings/{shared}", headers=in_workspace(workspace)).status_code == 200, "nothing changed"


@pytest.mark.parametrize("header", ["ws-short", "../x", "ws-" + "a" * 21, "someone-else", "ws-aaaaaaaaaaaaaaaaaaa!"])
def test_a_malformed_workspace_header_is_a_400_naming_it(client: AuthedHttp, header: str) -> None:
    answer = client.get("/recordings", headers=in_workspace(header))
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "invalid_workspace")
    assert "X-Workspace" in answer.json_body["error"]["message"]


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * (MAX_NAME + 1)}, {"name": 5}, {"name": "a\x00b"}]
)
def test_a_bad_workspace_name_is_a_400_and_creates_nothing(client: AuthedHttp, user: User, body: Any) -> None:
    answer = post(client, "/workspaces", body)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "invalid_name")
    assert len(client.get("/workspaces").json_body["workspaces"]) == 1


def test_members_list_and_replay_but_keys_and_deleting_are_for_admins(
    client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    shared = recording(client, workspace)
    bob_user, as_bob = bob
    get_services().workspaces.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="member")
    header = in_workspace(workspace)

    assert [entry["id"] for entry in as_bob.get("/recordings", headers=header).json_body["recordings"]] == [shared]
    assert as_bob.get(f"/recordings/{shared}/events", headers=header).status_code == 200
    assert recording(as_bob, workspace)
    members = as_bob.get(f"/workspaces/{workspace}/members").json_body["members"]
    assert [(m["user"], m["role"]) for m in members] == [(user.sub, "admin"), (bob_user.sub, "member")]
    assert members[0]["email"] == user.email
    for method, path, body in (
        ("GET", "/keys", ""),
        ("POST", "/keys", '{"name": "mine"}'),
        ("DELETE", f"/recordings/{shared}", ""),
        ("DELETE", f"/workspaces/{workspace}/members/{user.sub}", ""),
    ):
        answer = as_bob.request(method, path, headers={**JSON, **header}, body=body)
        assert (answer.status_code, answer.json_body["error"]["code"]) == (403, "admin_only"), (method, path)
    assert client.get(f"/recordings/{shared}", headers=header).status_code == 200, "nothing was deleted"
    # The workspace's demo key: any member records with it.
    assert post(as_bob, "/keys", {"purpose": "demo"}, workspace).status_code == 201


def test_a_removed_member_is_refused_at_once_with_the_token_they_hold(
    client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    bob_user, as_bob = bob
    get_services().workspaces.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="member")
    assert as_bob.get("/recordings", headers=in_workspace(workspace)).status_code == 200
    assert client.delete(f"/workspaces/{workspace}/members/{bob_user.sub}").status_code == 204
    assert as_bob.get("/recordings", headers=in_workspace(workspace)).status_code == 404
    assert [w["id"] for w in as_bob.get("/workspaces").json_body["workspaces"]] == [bob_user.sub]


def test_a_member_may_leave_but_the_last_admin_stays(
    client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    bob_user, as_bob = bob
    get_services().workspaces.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="member")
    last = client.delete(f"/workspaces/{workspace}/members/{user.sub}")
    assert (last.status_code, last.json_body["error"]["code"]) == (409, "last_admin")
    assert as_bob.delete(f"/workspaces/{workspace}/members/{bob_user.sub}").status_code == 204
    gone = client.delete(f"/workspaces/{workspace}/members/{bob_user.sub}")
    assert gone.status_code == 404
    personal = client.delete(f"/workspaces/{user.sub}/members/{user.sub}")
    assert personal.status_code == 404, "a personal workspace has no members to remove"


def test_a_user_has_a_bounded_number_of_team_workspaces(client: AuthedHttp) -> None:
    for index in range(MAX_WORKSPACES_PER_USER):
        assert post(client, "/workspaces", {"name": f"team {index}"}).status_code == 201
    refused = post(client, "/workspaces", {"name": "one more"})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (409, "too_many_workspaces")
    assert len(client.get("/workspaces").json_body["workspaces"]) == MAX_WORKSPACES_PER_USER + 1


def invite(client: AuthedHttp, workspace: str, email: str = "bob@example.com", role: str = "member") -> Any:
    return post(client, f"/workspaces/{workspace}/invites", {"email": email, "role": role})


def test_an_invite_lets_the_account_of_its_email_join_once(
    client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    shared = recording(client, workspace)
    created = invite(client, workspace, email="Bob@Example.com")
    assert created.status_code == 201, created.json_body
    token = created.json_body["token"]
    assert client.get(f"/workspaces/{workspace}/invites").json_body["invites"] == [
        {key: created.json_body[key] for key in ("id", "email", "role", "expiresAt")}
    ]
    assert created.json_body["email"] == "bob@example.com"

    _, as_bob = bob
    joined = post(as_bob, "/invites/redeem", {"token": token})
    assert joined.status_code == 200, joined.json_body
    assert joined.json_body == {"id": workspace, "name": "Shop team", "role": "member", "personal": False}
    listed = as_bob.get("/recordings", headers=in_workspace(workspace)).json_body["recordings"]
    assert [entry["id"] for entry in listed] == [shared]
    again = post(as_bob, "/invites/redeem", {"token": token})
    assert (again.status_code, again.json_body["error"]["code"]) == (404, "no_such_invite"), "spent"
    assert client.get(f"/workspaces/{workspace}/invites").json_body["invites"] == []


def test_an_invite_for_someone_else_revoked_or_expired_is_as_if_it_never_existed(
    aws: Any, client: AuthedHttp, anonymous: AuthedHttp, bob: tuple[User, AuthedHttp], monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = team(client)
    _, as_bob = bob
    for_carol = invite(client, workspace, email="carol@example.com").json_body["token"]
    refused = post(as_bob, "/invites/redeem", {"token": for_carol})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (404, "no_such_invite")

    revoked = invite(client, workspace).json_body
    assert client.delete(f"/workspaces/{workspace}/invites/{revoked['id']}").status_code == 204
    assert post(as_bob, "/invites/redeem", {"token": revoked["token"]}).status_code == 404
    assert client.delete(f"/workspaces/{workspace}/invites/{revoked['id']}").status_code == 404
    assert client.delete(f"/workspaces/{workspace}/invites/not-an-id").status_code == 404

    expiring = invite(client, workspace).json_body
    service = get_services().workspaces
    monkeypatch.setattr(service, "_clock", lambda: expiring["expiresAt"] / 1000 + 1)
    assert post(as_bob, "/invites/redeem", {"token": expiring["token"]}).status_code == 404
    forged = expiring["token"][:-4] + "AAAA"
    monkeypatch.undo()
    assert post(as_bob, "/invites/redeem", {"token": forged}).status_code == 404, "a wrong secret"
    assert [w["id"] for w in as_bob.get("/workspaces").json_body["workspaces"]] == [bob[0].sub]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not an email"}, "invalid_email"),
        ({"email": ["a@b.co"]}, "invalid_email"),
        ({"email": "a@b.co", "role": "owner"}, "invalid_role"),
        ({}, "invalid_email"),
    ],
)
def test_a_bad_invite_is_a_400_naming_the_field(client: AuthedHttp, body: dict[str, Any], code: str) -> None:
    workspace = team(client)
    answer = post(client, f"/workspaces/{workspace}/invites", body)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, code)
    assert client.get(f"/workspaces/{workspace}/invites").json_body["invites"] == []


@pytest.mark.parametrize("token", ["", "rri_x", "rrk_0123456789abcdef_" + "a" * 43, 5, None])
def test_a_malformed_invite_token_is_a_400(bob: tuple[User, AuthedHttp], token: Any) -> None:
    _, as_bob = bob
    answer = post(as_bob, "/invites/redeem", {"token": token})
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "invalid_token")


def test_only_admins_invite_and_a_personal_workspace_takes_no_one(
    client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    bob_user, as_bob = bob
    get_services().workspaces.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="member")
    refused = invite(as_bob, workspace, email="dave@example.com")
    assert (refused.status_code, refused.json_body["error"]["code"]) == (403, "admin_only")
    assert as_bob.get(f"/workspaces/{workspace}/invites").status_code == 403
    personal = invite(client, user.sub)
    assert (personal.status_code, personal.json_body["error"]["code"]) == (409, "personal_workspace")


def test_an_allowed_domain_limits_who_is_invited(client: AuthedHttp, bob: tuple[User, AuthedHttp]) -> None:
    workspace = team(client)
    described = client.get(f"/workspaces/{workspace}").json_body
    assert described == {"id": workspace, "name": "Shop team", "allowedDomain": None, "role": "admin"}
    patched = client.request(
        "PATCH", f"/workspaces/{workspace}", headers=JSON, body=json.dumps({"allowedDomain": "Shop.Example"})
    )
    assert patched.status_code == 200, patched.json_body
    assert patched.json_body["allowedDomain"] == "shop.example"
    refused = invite(client, workspace, email="carol@elsewhere.example")
    assert (refused.status_code, refused.json_body["error"]["code"]) == (400, "email_domain")
    assert invite(client, workspace, email="carol@shop.example").status_code == 201
    assert invite(client, workspace, email="carol@evil.shop.example.com").status_code == 400
    cleared = client.request("PATCH", f"/workspaces/{workspace}", headers=JSON, body='{"allowedDomain": null}')
    assert cleared.json_body["allowedDomain"] is None
    assert invite(client, workspace, email="carol@elsewhere.example").status_code == 201


@pytest.mark.parametrize(
    "body", [{}, {"allowedDomain": "not a domain"}, {"allowedDomain": "@x.com"}, {"allowedDomain": 5}]
)
def test_a_bad_allowed_domain_is_a_400_and_changes_nothing(client: AuthedHttp, body: dict[str, Any]) -> None:
    workspace = team(client)
    answer = client.request("PATCH", f"/workspaces/{workspace}", headers=JSON, body=json.dumps(body))
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "invalid_domain")
    assert client.get(f"/workspaces/{workspace}").json_body["allowedDomain"] is None
