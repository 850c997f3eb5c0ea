"""The authorization matrix: every route and method against every kind of credential.

Written once and run twice: in process (Chalice's test client over moto) and over HTTP
against the local stack, both with real tokens from moto's Cognito.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from joserfc import jwk
from moto.utilities.utils import load_resource

# (method, path template) in the order they are exercised; deletions last.
ROUTES = [
    ("GET", "/recordings"),
    ("POST", "/recordings"),
    ("GET", "/recordings/{rid}"),
    ("GET", "/recordings/{rid}/events"),
    ("POST", "/recordings/{rid}/events"),
    ("POST", "/assets/missing"),
    ("POST", "/assets/urls"),
    ("GET", "/keys"),
    ("POST", "/keys"),
    ("PATCH", "/keys/{kid}"),
    ("GET", "/controls"),
    ("GET", "/blocked"),
    ("DELETE", "/keys/{kid}"),
    ("DELETE", "/recordings/{rid}"),
]
UNAUTHENTICATED = ("none", "malformed token", "bad signature", "expired", "wrong client id", "revoked key")
OWNER = {
    ("GET", "/recordings"): 200,
    ("POST", "/recordings"): 201,
    ("GET", "/recordings/{rid}"): 200,
    ("GET", "/recordings/{rid}/events"): 200,
    ("POST", "/recordings/{rid}/events"): 202,
    # Assets are per owner: anyone signed in asks about and reads only their own.
    ("POST", "/assets/missing"): 200,
    ("POST", "/assets/urls"): 200,
    ("GET", "/keys"): 200,
    ("POST", "/keys"): 201,
    ("PATCH", "/keys/{kid}"): 200,
    # A key's controls, read with the key; a user has none (an empty answer).
    ("GET", "/controls"): 200,
    # A recorder's report that a page's policy blocked it (noted on a key; a user has none).
    ("GET", "/blocked"): 204,
    ("DELETE", "/keys/{kid}"): 204,
    ("DELETE", "/recordings/{rid}"): 204,
}
EXPECTED: dict[str, dict[tuple[str, str], int]] = {
    **{credential: dict.fromkeys(OWNER, 401) for credential in UNAUTHENTICATED},
    # Another user: their own list and creations work; the owner's things do not exist.
    "another user's token": {**OWNER, **{route: 404 for route in OWNER if "{" in route[1]}},
    # An ingest key writes for its owner and does nothing else.
    "ingest key": {route: OWNER[route] if route in INGEST_ROUTES else 403 for route in OWNER}
    if (
        INGEST_ROUTES := {
            ("POST", "/recordings"),
            ("POST", "/recordings/{rid}/events"),
            ("POST", "/assets/missing"),
            ("GET", "/controls"),
            ("GET", "/blocked"),
        }
    )
    else {},
    # Another user's ingest key cannot touch the owner's recording either.
    "another user's ingest key": {
        route: (
            201
            if route == ("POST", "/recordings")
            else 404
            if route == ("POST", "/recordings/{rid}/events")
            else 200
            if route in {("POST", "/assets/missing"), ("GET", "/controls")}
            else 204
            if route == ("GET", "/blocked")
            else 403
        )
        for route in OWNER
    },
    "owner": OWNER,
}

Call = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]
ASSET = "ab" * 32
CONTROLS_BODY = b'{"controls": {"sampleRate": 0.5}}'
BLOCKED_QUERY = "?directive=connect-src&uri=https%3A%2F%2Fapi.example"
ASSET_BODIES = {
    "/assets/missing": json.dumps(
        {"recording": "rec-authz-0001", "assets": [{"sha256": ASSET, "size": 10, "type": "image/png"}]}
    ).encode(),
    "/assets/urls": json.dumps({"sha256": [ASSET]}).encode(),
}


@dataclass
class Credentials:
    """Authorization headers for every row of the matrix."""

    headers: dict[str, dict[str, str]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forge_expired(valid_token: str) -> str:
    """The same claims, signed by the pool's real key, but expired an hour ago."""
    claims = jwt.decode(valid_token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600)
    key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    pem = key.as_pem(private=True)
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": jwt.get_unverified_header(valid_token)["kid"]})


def tamper(token: str) -> str:
    """Flip a character in the middle of the signature."""
    head, payload, signature = token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return ".".join([head, payload, signature[:middle] + flipped + signature[middle + 1 :]])


def build_credentials(*, owner_token: str, other_token: str, wrong_client_token: str, call: Call) -> Credentials:
    """Keys are made through the API itself, as a user would."""
    status, key = call("POST", "/keys", _bearer(owner_token), b"{}")
    assert status == 201, key
    status, other_key = call("POST", "/keys", _bearer(other_token), b"{}")
    assert status == 201, other_key
    status, revoked = call("POST", "/keys", _bearer(owner_token), b"{}")
    assert status == 201, revoked
    status, _ = call("DELETE", f"/keys/{revoked['id']}", _bearer(owner_token), b"")
    assert status == 204
    return Credentials(
        headers={
            "none": {},
            "malformed token": {"Authorization": "Bearer not.a.jwt"},
            "bad signature": _bearer(tamper(owner_token)),
            "expired": _bearer(forge_expired(owner_token)),
            "wrong client id": _bearer(wrong_client_token),
            "revoked key": _bearer(revoked["key"]),
            "another user's token": _bearer(other_token),
            "ingest key": _bearer(key["key"]),
            "another user's ingest key": _bearer(other_key["key"]),
            "owner": _bearer(owner_token),
        }
    )


def run_row(credential: str, credentials: Credentials, owner_token: str, call: Call) -> dict[tuple[str, str], int]:
    """Statuses of every route for one credential, against fresh owner resources."""
    owner = _bearer(owner_token)
    status, created = call("POST", "/recordings", owner, b"{}")
    assert status == 201, created
    rid = created["recording"]["id"]
    batch = json.dumps({"seq": 0, "events": [{"type": 4, "timestamp": 1}]}).encode()
    assert call("POST", f"/recordings/{rid}/events", owner, batch)[0] == 202
    status, victim = call("POST", "/keys", owner, b"{}")
    assert status == 201, victim
    got = {}
    for seq, (method, template) in enumerate(ROUTES, start=1):
        path = template.format(rid=rid, kid=victim["id"]) + (BLOCKED_QUERY if template == "/blocked" else "")
        body = CONTROLS_BODY if method == "PATCH" else b""
        if method == "POST":
            body = ASSET_BODIES.get(
                template,
                json.dumps({"seq": seq, "events": [{"type": 3, "timestamp": seq}]}).encode()
                if "events" in path
                else b"{}",
            )
        got[(method, template)] = call(method, path, credentials.headers[credential], body)[0]
    return got


# The same routes in a team workspace (X-Workspace), with its own routes before the deletions.
TEAM_ROUTES = [
    *ROUTES[:-2],
    ("GET", "/workspaces/{ws}"),
    ("PATCH", "/workspaces/{ws}"),
    ("GET", "/workspaces/{ws}/members"),
    ("PATCH", "/workspaces/{ws}/members/{admin}"),
    ("POST", "/workspaces/{ws}/invites"),
    ("GET", "/workspaces/{ws}/invites"),
    ("DELETE", "/workspaces/{ws}/invites/{iid}"),
    ("POST", "/recordings/{rid}/shares"),
    ("GET", "/recordings/{rid}/shares"),
    ("DELETE", "/recordings/{rid}/shares/{sid}"),
    ("POST", "/recordings/{rid}/comments"),
    ("GET", "/recordings/{rid}/comments"),
    ("DELETE", "/recordings/{rid}/comments/{cid}"),
    ("DELETE", "/people/{person}/recordings"),
    *ROUTES[-2:],
    ("POST", "/recordings/delete"),
]
TEAM_ADMIN = {
    **OWNER,
    ("GET", "/workspaces/{ws}"): 200,
    ("PATCH", "/workspaces/{ws}"): 200,
    ("GET", "/workspaces/{ws}/members"): 200,
    # The admin keeps their own role: a change that holds whichever row runs first.
    ("PATCH", "/workspaces/{ws}/members/{admin}"): 200,
    ("POST", "/workspaces/{ws}/invites"): 201,
    ("GET", "/workspaces/{ws}/invites"): 200,
    ("DELETE", "/workspaces/{ws}/invites/{iid}"): 204,
    ("POST", "/recordings/{rid}/shares"): 201,
    ("GET", "/recordings/{rid}/shares"): 200,
    ("DELETE", "/recordings/{rid}/shares/{sid}"): 204,
    ("POST", "/recordings/{rid}/comments"): 201,
    ("GET", "/recordings/{rid}/comments"): 200,
    ("DELETE", "/recordings/{rid}/comments/{cid}"): 204,
    ("DELETE", "/people/{person}/recordings"): 200,
    ("POST", "/recordings/delete"): 200,
}
# Keys, invites and deleting are an admin's; a member lists, replays and records.
ADMIN_ONLY = {
    ("PATCH", "/workspaces/{ws}"),
    ("PATCH", "/workspaces/{ws}/members/{admin}"),
    ("GET", "/keys"),
    ("POST", "/keys"),
    ("PATCH", "/keys/{kid}"),
    ("DELETE", "/keys/{kid}"),
    ("POST", "/workspaces/{ws}/invites"),
    ("GET", "/workspaces/{ws}/invites"),
    ("DELETE", "/workspaces/{ws}/invites/{iid}"),
    ("DELETE", "/recordings/{rid}"),
    # The admin's comment: its author's or an admin's to delete.
    ("DELETE", "/recordings/{rid}/comments/{cid}"),
    ("DELETE", "/people/{person}/recordings"),
    ("POST", "/recordings/delete"),
}
TEAM_INGEST = {
    ("POST", "/recordings"),
    ("POST", "/recordings/{rid}/events"),
    ("POST", "/assets/missing"),
    ("GET", "/controls"),
    ("GET", "/blocked"),
}
TEAM_EXPECTED: dict[str, dict[tuple[str, str], int]] = {
    "team admin": TEAM_ADMIN,
    "team member": {route: 403 if route in ADMIN_ONLY else status for route, status in TEAM_ADMIN.items()},
    # Not a member (never, or no longer, whatever token they hold): the workspace does not exist.
    "outsider naming the team": dict.fromkeys(TEAM_ADMIN, 404),
    "removed member": dict.fromkeys(TEAM_ADMIN, 404),
    "team ingest key": {route: status if route in TEAM_INGEST else 403 for route, status in TEAM_ADMIN.items()},
}


@dataclass
class Team:
    """A team workspace and the headers of each row of its matrix."""

    workspace: str
    admin: dict[str, str]
    admin_id: str
    headers: dict[str, dict[str, str]]


def join(call: Call, workspace: str, admin: dict[str, str], token: str, email: str) -> None:
    """Invite ``email`` as a member and redeem it with ``token``, as the site does."""
    body = json.dumps({"email": email, "role": "member"}).encode()
    status, invite = call("POST", f"/workspaces/{workspace}/invites", admin, body)
    assert status == 201, invite
    status, joined = call("POST", "/invites/redeem", _bearer(token), json.dumps({"token": invite["token"]}).encode())
    assert status == 200, joined


def build_team(call: Call, *, admin_token: str, users: dict[str, tuple[str, str]]) -> Team:
    """A team workspace of ``admin_token``'s user; ``users``: member, outsider, removed -> (token, email)."""
    status, created = call("POST", "/workspaces", _bearer(admin_token), b'{"name": "authz team"}')
    assert status == 201, created
    workspace = created["id"]
    admin = {**_bearer(admin_token), "X-Workspace": workspace}
    join(call, workspace, admin, *users["member"])
    join(call, workspace, admin, *users["removed"])
    removed_id = jwt.decode(users["removed"][0], options={"verify_signature": False})["sub"]
    assert call("DELETE", f"/workspaces/{workspace}/members/{removed_id}", admin, b"")[0] == 204
    status, key = call("POST", "/keys", admin, b"{}")
    assert status == 201, key

    def named(token: str) -> dict[str, str]:
        return {**_bearer(token), "X-Workspace": workspace}

    return Team(
        workspace=workspace,
        admin=admin,
        admin_id=jwt.decode(admin_token, options={"verify_signature": False})["sub"],
        headers={
            "team admin": admin,
            "team member": named(users["member"][0]),
            "outsider naming the team": named(users["outsider"][0]),
            "removed member": named(users["removed"][0]),
            "team ingest key": _bearer(key["key"]),
        },
    )


def run_team_row(credential: str, team: Team, call: Call) -> dict[tuple[str, str], int]:
    """Statuses of every team route for one credential, against fresh resources of the team."""
    status, created = call("POST", "/recordings", team.admin, b"{}")
    assert status == 201, created
    rid = created["recording"]["id"]
    batch = json.dumps({"seq": 0, "events": [{"type": 4, "timestamp": 1}]}).encode()
    assert call("POST", f"/recordings/{rid}/events", team.admin, batch)[0] == 202
    status, victim = call("POST", "/keys", team.admin, b"{}")
    assert status == 201, victim
    status, link = call("POST", f"/recordings/{rid}/shares", team.admin, b"{}")
    assert status == 201, link
    status, noted = call("POST", f"/recordings/{rid}/comments", team.admin, b'{"at": 1, "text": "the admin\'s"}')
    assert status == 201, noted
    invited = json.dumps({"email": f"{credential.replace(' ', '-')}@example.com"}).encode()
    status, invite = call("POST", f"/workspaces/{team.workspace}/invites", team.admin, invited)
    assert status == 201, invite
    got = {}
    for seq, (method, template) in enumerate(TEAM_ROUTES, start=1):
        path = template.format(
            rid=rid,
            kid=victim["id"],
            ws=team.workspace,
            iid=invite["id"],
            sid=link["id"],
            cid=noted["id"],
            person="p-1",
            admin=team.admin_id,
        ) + (BLOCKED_QUERY if template == "/blocked" else "")
        body = b""
        if template == "/workspaces/{ws}":
            body = b'{"allowedDomain": null}'
        elif template == "/keys/{kid}":
            body = CONTROLS_BODY
        elif method == "PATCH":
            body = b'{"role": "admin"}'
        if method == "POST":
            if template.endswith("/invites"):
                body = json.dumps({"email": f"row-{seq}@example.com"}).encode()
            elif template.endswith("/comments"):
                body = json.dumps({"at": seq, "text": f"row {seq}"}).encode()
            elif template == "/recordings/delete":
                body = json.dumps({"ids": [rid]}).encode()
            elif "events" in path:
                body = json.dumps({"seq": seq, "events": [{"type": 3, "timestamp": seq}]}).encode()
            else:
                body = ASSET_BODIES.get(template, b"{}")
        got[(method, template)] = call(method, path, team.headers[credential], body)[0]
    return got
