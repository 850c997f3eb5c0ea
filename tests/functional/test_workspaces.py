"""Workspaces in process (moto): a personal one per user, team ones with admins and members, checked per request."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from chalicelib import workspaces as workspaces_module
from chalicelib.aws import get_services
from chalicelib.errors import ApiError
from chalicelib.workspaces import MAX_INVITES_PER_DAY, MAX_NAME, MAX_WORKSPACES_PER_USER, is_team_id
from tests.support.accounts import POOL_PASSWORD, User, make_user
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


def patch(http: AuthedHttp, path: str, body: Any) -> Any:
    return http.request("PATCH", path, headers=JSON, body=json.dumps(body))


def test_an_admin_changes_a_members_role_and_it_holds_on_their_next_request(
    client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    bob_user, as_bob = bob
    get_services().workspaces.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="member")
    header = in_workspace(workspace)
    assert as_bob.get("/keys", headers=header).status_code == 403
    promoted = patch(client, f"/workspaces/{workspace}/members/{bob_user.sub}", {"role": "admin"})
    assert promoted.status_code == 200, promoted.json_body
    assert promoted.json_body == {"user": bob_user.sub, "email": bob_user.email, "role": "admin"}
    assert as_bob.get("/keys", headers=header).status_code == 200, "the same token, now an admin's"
    assert [w["role"] for w in as_bob.get("/workspaces").json_body["workspaces"] if w["id"] == workspace] == ["admin"]
    # Two admins: either may step down, but not both.
    assert patch(client, f"/workspaces/{workspace}/members/{user.sub}", {"role": "member"}).status_code == 200
    assert client.get("/keys", headers=header).status_code == 403
    last = patch(as_bob, f"/workspaces/{workspace}/members/{bob_user.sub}", {"role": "member"})
    assert (last.status_code, last.json_body["error"]["code"]) == (409, "last_admin")
    refused = patch(client, f"/workspaces/{workspace}/members/{user.sub}", {"role": "admin"})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (403, "admin_only"), "no promoting oneself"
    roles = {m["user"]: m["role"] for m in as_bob.get(f"/workspaces/{workspace}/members").json_body["members"]}
    assert roles == {user.sub: "member", bob_user.sub: "admin"}


def test_admins_demoting_each_other_at_once_leave_one_admin(
    aws: Any, client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp], monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = team(client)
    bob_user, _ = bob
    service = get_services().workspaces
    service.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="admin")
    # At once: each request read both as admins before either wrote (the read is stale
    # for the second one here, deterministically, as two racing requests would see it).
    with monkeypatch.context() as stale:
        stale.setattr(type(service), "role", lambda self, workspace, member: "admin")
        assert service.set_role(workspace, user.sub, "member")["role"] == "member"
        with pytest.raises(ApiError) as refused:
            service.set_role(workspace, bob_user.sub, "member")
    assert refused.value.code == "last_admin"
    assert [m["role"] for m in service.members(workspace)] == ["member", "admin"]


def test_a_workspace_made_before_admins_were_counted_is_counted_at_its_first_demotion(
    aws: Any, client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    bob_user, _ = bob
    service = get_services().workspaces
    service.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="admin")
    access = aws.resource("dynamodb").Table(os.environ["RRWEB_ACCESS_TABLE"])
    access.update_item(Key={"pk": f"workspace#{workspace}"}, UpdateExpression="REMOVE admins, members")
    access.delete_item(Key={"pk": f"usercount#{bob_user.sub}"})
    assert patch(client, f"/workspaces/{workspace}/members/{bob_user.sub}", {"role": "member"}).status_code == 200
    last = patch(client, f"/workspaces/{workspace}/members/{user.sub}", {"role": "member"})
    assert (last.status_code, last.json_body["error"]["code"]) == (409, "last_admin")
    counted = access.get_item(Key={"pk": f"workspace#{workspace}"})["Item"]
    assert (counted["admins"], counted["members"]) == (1, 2)
    assert client.delete(f"/workspaces/{workspace}/members/{bob_user.sub}").status_code == 204
    assert access.get_item(Key={"pk": f"workspace#{workspace}"})["Item"]["members"] == 1
    assert access.get_item(Key={"pk": f"usercount#{bob_user.sub}"})["Item"]["workspaces"] == 0


def test_a_member_is_not_invited_again_and_joining_never_demotes(
    client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    bob_user, _ = bob
    service = get_services().workspaces
    service.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="admin")
    again = invite(client, workspace, email=bob_user.email.upper(), role="member")
    assert (again.status_code, again.json_body["error"]["code"]) == (409, "already_member")
    assert service.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="member")["role"] == "admin"
    assert service.role(workspace, bob_user.sub) == "admin"


def test_an_admins_invite_dies_with_their_admin_role(
    aws: Any, client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp], anonymous: AuthedHttp
) -> None:
    workspace = team(client)
    bob_user, as_bob = bob
    service = get_services().workspaces
    service.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="admin")
    # Bob, an admin, makes an invite out to a second account of his; then he is removed.
    carol = make_user(aws, "carol@example.com")
    token = post(as_bob, f"/workspaces/{workspace}/invites", {"email": carol.email, "role": "admin"}).json_body["token"]
    assert client.delete(f"/workspaces/{workspace}/members/{bob_user.sub}").status_code == 204
    as_carol = anonymous.acting_as(carol.headers)
    refused = post(as_carol, "/invites/redeem", {"token": token})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (404, "no_such_invite")
    assert service.role(workspace, carol.sub) is None


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "invalid_role"), ({"role": "owner"}, "invalid_role"), ({"role": None}, "invalid_role"), ([], "invalid_json")],
)
def test_a_bad_role_change_is_a_400_naming_the_field_and_changes_nothing(
    client: AuthedHttp, bob: tuple[User, AuthedHttp], body: Any, code: str
) -> None:
    workspace = team(client)
    bob_user, _ = bob
    get_services().workspaces.add_member(workspace, user=bob_user.sub, email=bob_user.email, role="member")
    answer = patch(client, f"/workspaces/{workspace}/members/{bob_user.sub}", body)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, code)
    assert get_services().workspaces.role(workspace, bob_user.sub) == "member"


def test_a_role_change_for_someone_not_a_member_is_a_404(
    client: AuthedHttp, user: User, bob: tuple[User, AuthedHttp]
) -> None:
    workspace = team(client)
    bob_user, as_bob = bob
    outsider = patch(client, f"/workspaces/{workspace}/members/{bob_user.sub}", {"role": "admin"})
    assert (outsider.status_code, outsider.json_body["error"]["code"]) == (404, "no_such_member")
    personal = patch(client, f"/workspaces/{user.sub}/members/{user.sub}", {"role": "member"})
    assert personal.status_code == 404, "a personal workspace has no members"
    assert patch(as_bob, f"/workspaces/{workspace}/members/{bob_user.sub}", {"role": "admin"}).status_code == 404
    assert get_services().workspaces.role(workspace, bob_user.sub) is None


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
        {**{key: created.json_body[key] for key in ("id", "email", "role", "expiresAt")}, "invitedBy": user.email}
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


def temporary_passwords(outbox: Path, email: str) -> list[str]:
    """The temporary passwords the pool "emailed" to ``email``, oldest first."""
    text = outbox.read_text() if outbox.exists() else ""
    return re.findall(rf"to {re.escape(email)}: your temporary password is (\S+)", text)


def test_an_invite_gives_an_address_without_an_account_one_that_signs_in_and_joins(
    client: AuthedHttp, anonymous: AuthedHttp, outbox: Path
) -> None:
    workspace = team(client)
    shared = recording(client, workspace)
    token = invite(client, workspace, email="dana@example.com").json_body["token"]
    [temporary] = temporary_passwords(outbox, "dana@example.com")
    challenge = post(anonymous, "/auth/signin", {"email": "dana@example.com", "password": temporary})
    assert challenge.json_body["challenge"] == "NEW_PASSWORD_REQUIRED", challenge.json_body
    tokens = post(
        anonymous, "/auth/new-password", {"session": challenge.json_body["session"], "password": "Danas-Own-Secret-9"}
    )
    assert tokens.status_code == 200, tokens.json_body
    as_dana = anonymous.acting_as({"Authorization": f"Bearer {tokens.json_body['accessToken']}"})
    joined = post(as_dana, "/invites/redeem", {"token": token})
    assert joined.status_code == 200, joined.json_body
    listed = as_dana.get("/recordings", headers=in_workspace(workspace)).json_body["recordings"]
    assert [entry["id"] for entry in listed] == [shared]


def test_an_invite_emails_no_password_to_an_account_in_use_and_says_nothing_of_accounts(
    client: AuthedHttp, anonymous: AuthedHttp, bob: tuple[User, AuthedHttp], outbox: Path
) -> None:
    workspace = team(client)
    existing = invite(client, workspace, email="bob@example.com")
    fresh = invite(client, workspace, email="erin@example.com")
    assert existing.status_code == fresh.status_code == 201
    assert sorted(existing.json_body) == sorted(fresh.json_body), "the answer tells no one who has an account"
    assert temporary_passwords(outbox, "bob@example.com") == []
    assert post(anonymous, "/auth/signin", {"email": "bob@example.com", "password": POOL_PASSWORD}).status_code == 200
    # Another invite to the address (from anyone's workspace) sends nothing again, so no
    # one can void an invitee's temporary password by inviting them too.
    other = post(anonymous.acting_as(bob[0].headers), "/workspaces", {"name": "Bob's"}).json_body["id"]
    assert (
        post(
            anonymous.acting_as(bob[0].headers), f"/workspaces/{other}/invites", {"email": "ERIN@example.com"}
        ).status_code
        == 201
    )
    [first] = temporary_passwords(outbox, "erin@example.com")
    signed = post(anonymous, "/auth/signin", {"email": "erin@example.com", "password": first})
    assert signed.json_body["challenge"] == "NEW_PASSWORD_REQUIRED"


def test_an_address_cognito_refuses_is_a_400_and_spends_no_invite(
    aws: Any, client: AuthedHttp, user: User, outbox: Path
) -> None:
    workspace = team(client)
    refused = invite(client, workspace, email="o'neil@example.com")
    assert (refused.status_code, refused.json_body["error"]["code"]) == (400, "invalid_email")
    assert client.get(f"/workspaces/{workspace}/invites").json_body["invites"] == []
    access = aws.resource("dynamodb").Table(os.environ["RRWEB_ACCESS_TABLE"])
    day = int(time.time() // 86400)
    assert access.get_item(Key={"pk": f"invitecount#{user.sub}#{day}"})["Item"]["sent"] == 0


def test_the_stack_creates_a_bounded_number_of_accounts_through_invites_a_day(
    client: AuthedHttp, bob: tuple[User, AuthedHttp], outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspaces_module, "MAX_INVITED_ACCOUNTS_PER_DAY", 2)
    workspace = team(client)
    assert invite(client, workspace, email="new1@example.com").status_code == 201
    assert invite(client, workspace, email="new2@example.com").status_code == 201
    third = invite(client, workspace, email="new3@example.com")
    assert (third.status_code, third.json_body["error"]["code"]) == (429, "rate_limited")
    assert temporary_passwords(outbox, "new3@example.com") == []
    assert invite(client, workspace, email=bob[0].email).status_code == 201, "an account in use costs none"


def test_limits_hold_for_requests_that_passed_their_checks_at_once(
    aws: Any, client: AuthedHttp, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = get_services().workspaces
    for index in range(MAX_WORKSPACES_PER_USER):
        assert post(client, "/workspaces", {"name": f"t{index}"}).status_code == 201
    # A creation that read a count below the limit before the others wrote theirs.
    with monkeypatch.context() as stale:
        stale.setattr(type(service), "_user_count", lambda self, user: 0)
        late = post(client, "/workspaces", {"name": "late"})
    assert (late.status_code, late.json_body["error"]["code"]) == (409, "too_many_workspaces")
    listed = client.get("/workspaces").json_body["workspaces"]
    assert len(listed) == MAX_WORKSPACES_PER_USER + 1
    # Members: a join has no check but the count's own, in its transaction.
    monkeypatch.setattr(workspaces_module, "MAX_MEMBERS", 3)
    workspace = listed[1]["id"]
    outcomes = []
    for person in [make_user(aws, f"p{n}@example.com") for n in range(4)]:
        try:
            outcomes.append(service.add_member(workspace, user=person.sub, email=person.email, role="member")["role"])
        except ApiError as error:
            outcomes.append(error.code)
    assert outcomes == ["member", "member", "workspace_full", "workspace_full"]
    assert len(service.members(workspace)) == 3


@pytest.mark.parametrize("member", ["x" * 5000, "a/b", "%00", "ws-AAAAAAAAAAAAAAAAAAAA#x"])
def test_a_member_id_no_user_could_have_is_no_member(client: AuthedHttp, member: str) -> None:
    workspace = team(client)
    path = f"/workspaces/{workspace}/members/{urllib.parse.quote(member, safe='')}"
    for answer in (patch(client, path, {"role": "admin"}), client.delete(path)):
        assert (answer.status_code, answer.json_body["error"]["code"]) == (404, "no_such_member")


def test_an_unknown_workspace_setting_is_a_400_naming_it(client: AuthedHttp) -> None:
    workspace = team(client)
    answer = patch(client, f"/workspaces/{workspace}", {"allowedDomain": None, "colour": "red"})
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "invalid_settings")
    assert "colour" in answer.json_body["error"]["message"]


def test_an_admin_sends_a_bounded_number_of_invites_a_day(client: AuthedHttp, outbox: Path) -> None:
    teams = [team(client, "one"), team(client, "two")]
    for index in range(MAX_INVITES_PER_DAY):
        assert invite(client, teams[index % 2], email=f"guest{index}@example.com").status_code == 201
    refused = invite(client, teams[0], email="one-more@example.com")
    assert (refused.status_code, refused.json_body["error"]["code"]) == (429, "rate_limited")
    assert int(refused.headers["Retry-After"]) <= 86400
    assert temporary_passwords(outbox, "one-more@example.com") == [], "no account, no email"
    pending = sum(len(client.get(f"/workspaces/{w}/invites").json_body["invites"]) for w in teams)
    assert pending == MAX_INVITES_PER_DAY


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
    assert {key: described[key] for key in ("id", "name", "allowedDomain", "role")} == {
        "id": workspace,
        "name": "Shop team",
        "allowedDomain": None,
        "role": "admin",
    }
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


@pytest.mark.parametrize("body", [{"allowedDomain": "not a domain"}, {"allowedDomain": "@x.com"}, {"allowedDomain": 5}])
def test_a_bad_allowed_domain_is_a_400_and_changes_nothing(client: AuthedHttp, body: dict[str, Any]) -> None:
    workspace = team(client)
    answer = client.request("PATCH", f"/workspaces/{workspace}", headers=JSON, body=json.dumps(body))
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "invalid_domain")
    assert client.get(f"/workspaces/{workspace}").json_body["allowedDomain"] is None
