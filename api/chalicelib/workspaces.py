"""Workspaces: what recordings, keys and assets belong to, and who may act in one.

Every user has a **personal workspace** whose id is the user's own id (the Cognito
``sub``), so everything an owner stored before workspaces existed is, unchanged, that
owner's personal workspace: no object, item or key moves, and the storage layout's
``owner=<o>`` is the workspace's id from now on. A user may create **team workspaces**
(``ws-`` and 20 letters and digits, never a ``sub``'s shape) and is their first admin.

Roles: ``admin`` (keys, members, settings, deleting recordings) and ``member`` (list,
replay, share, comment). A user is the only admin of their personal workspace, which has
no other members.

Items in the access table (its ``parent`` index lists an item's siblings by creation):

    workspace#<w>          name, createdBy, createdAt
    member#<w>#<user>      role, email, createdAt; parent members#<w>      (the members)
    memberof#<user>#<w>    role, name, createdAt; parent memberof#<user>   (a user's workspaces)
    invite#<id>            workspace, email, role, secretHash, expiresAt; parent invites#<w>

**Invites.** An admin invites an email address with a role; the answer holds the invite's
token (``rri_<id>_<secret>``, shown once: the table keeps the secret's hash), which the
site puts in a link. The invitee signs in (or signs up, or is given an account by an
administrator where self sign-up is off) and redeems it: only the account whose email
is the invite's may, within a week, once. Pending invites are listed and revocable.

Membership is read on every request that names a team workspace (one strongly
consistent GetItem; none for the personal one), never baked into a token: removing a
member takes effect on their next request, tokens already issued included. A workspace
the caller is not a member of does not exist for them (404), like another owner's
recording.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError, TooManyRequestsError
from .schema import ACCESS_KEY, INDEX_BY_PARENT, PARENT_ATTRIBUTE, TTL_ATTRIBUTE

INVITE_PREFIX = "rri_"
# An invite is good for a week, and a workspace has at most this many pending.
INVITE_SECONDS = 7 * 24 * 3600
MAX_PENDING_INVITES = 50
# Invites one admin may send a day, over all their workspaces: each may email a stranger
# (an account's temporary password), so the stack's sender is no one's mass mailer.
MAX_INVITES_PER_DAY = 50
# Accounts invites create on the whole stack a day: invitees may create workspaces and
# invite in turn, and this keeps that growth linear, within the sender's daily quota.
MAX_INVITED_ACCOUNTS_PER_DAY = 100
_ACCOUNTS_A_DAY = "new accounts a day through invites on this stack"
_INVITE = re.compile(r"\Arri_([0-9a-f]{16})_([A-Za-z0-9_-]{43})\Z")
_EMAIL = re.compile(r"\A[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}\Z")
ADMIN = "admin"
MEMBER = "member"
ROLES = (ADMIN, MEMBER)
HEADER = "x-workspace"
# A user's team workspaces (created or joined), and one workspace's members.
MAX_WORKSPACES_PER_USER = 20
MAX_MEMBERS = 100
MAX_NAME = 80
# The byParent index's parent of every workspace with a retention of its own.
RETENTION_PARENT = "retention"
_TEAM_ID = re.compile(r"\Aws-[A-Za-z0-9]{20}\Z")
_ALPHABET = string.ascii_letters + string.digits


def is_team_id(value: str) -> bool:
    """Whether ``value`` is a team workspace's id (a personal one is its user's id)."""
    return bool(_TEAM_ID.match(value))


def new_id() -> str:
    """A new team workspace id: unguessable, and never the shape of a user's id."""
    return "ws-" + "".join(secrets.choice(_ALPHABET) for _ in range(20))


def workspace_name(body: dict[str, Any]) -> str:
    """The ``name`` a client sent: 1 to MAX_NAME characters of printable text."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable():
        raise BadRequestError(f"name must be 1 to {MAX_NAME} printable characters", code="invalid_name")
    return name.strip()


def requested(header: str | None, user: str) -> str:
    """The workspace a request names (its ``X-Workspace`` header), the user's personal one without it."""
    if header is None or not header.strip():
        return user
    workspace = header.strip()
    if workspace != user and not is_team_id(workspace):
        raise BadRequestError("X-Workspace must be a workspace id", code="invalid_workspace")
    return workspace


def role_of(body: dict[str, Any], *, required: bool = False) -> str:
    """The ``role`` a client sent: admin or member (member when left out, unless ``required``)."""
    role = body.get("role", None if required else MEMBER)
    if role not in ROLES:
        raise BadRequestError("role must be admin or member", code="invalid_role")
    return str(role)


def invite_email(body: dict[str, Any]) -> str:
    """The ``email`` an invite is for: one address, compared without case."""
    email = body.get("email")
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise BadRequestError("email must be one email address", code="invalid_email")
    return email.strip().lower()


_DOMAIN = re.compile(r"\A(?=.{3,253}\Z)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")


def allowed_domain(body: dict[str, Any]) -> str | None:
    """``allowedDomain``: an email domain (``example.com``) invites must be for, or null for any."""
    if "allowedDomain" not in body:
        raise BadRequestError("allowedDomain is required (a domain, or null)", code="invalid_domain")
    value = body["allowedDomain"]
    if value is None:
        return None
    if not isinstance(value, str) or not _DOMAIN.match(value.strip().lower()):
        raise BadRequestError("allowedDomain must be a domain such as example.com, or null", code="invalid_domain")
    return value.strip().lower()


def retention_days(body: dict[str, Any], *, most: int) -> int | None:
    """``retentionDays``: whole days, 1 to the stack's retention (``most``), or null for the stack's own."""
    value = body["retentionDays"]
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise BadRequestError(
            f"retentionDays must be a whole number of days from 1 to {most} (the stack's), or null",
            code="invalid_retention",
        )
    return value


def invite_token(body: dict[str, Any]) -> tuple[str, str]:
    """The invite's id and secret from the ``token`` a client sent (rri_<id>_<secret>)."""
    token = body.get("token")
    found = _INVITE.match(token) if isinstance(token, str) else None
    if not found:
        raise BadRequestError("token must be an invite token (rri_...)", code="invalid_token")
    return found.group(1), found.group(2)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _too_many_workspaces() -> ConflictError:
    return ConflictError(f"at most {MAX_WORKSPACES_PER_USER} team workspaces per user", code="too_many_workspaces")


# A Cognito user's id (its sub): what a member's id looks like, checked before any key is built.
_USER_ID = re.compile(r"\A[A-Za-z0-9-]{1,64}\Z")


def is_user_id(value: str) -> bool:
    """Whether ``value`` could be a user's id (a path's member id that is not is no member)."""
    return bool(_USER_ID.match(value))


def _member_key(workspace: str, user: str) -> str:
    return f"member#{workspace}#{user}"


def _memberof_key(user: str, workspace: str) -> str:
    return f"memberof#{user}#{workspace}"


class Workspaces:
    """Team workspaces and their members in the access table (see the module's docstring)."""

    def __init__(self, *, table: Any, clock: Any = time.time) -> None:
        self._table = table
        self._clock = clock

    def role(self, workspace: str, user: str) -> str | None:
        """The user's role in the workspace, or None when they are not a member."""
        if workspace == user:
            return ADMIN
        if not is_team_id(workspace):
            return None
        item = self._table.get_item(Key={ACCESS_KEY: _member_key(workspace, user)}, ConsistentRead=True).get("Item")
        return str(item["role"]) if item else None

    def require(self, workspace: str, user: str, *, admin: bool = False) -> str:
        """The user's role: 404 when not a member (the workspace does not exist for them), 403 when not admin."""
        role = self.role(workspace, user)
        if role is None:
            # The same for a workspace that does not exist: nothing is said of others'.
            raise NotFoundError("no such workspace", code="no_such_workspace")
        if admin and role != ADMIN:
            raise ForbiddenError("only a workspace admin may do this", code="admin_only")
        return role

    def create(self, *, user: str, email: str, name: str) -> dict[str, Any]:
        """A new team workspace with ``user`` as its admin."""
        if self._user_count(user) >= MAX_WORKSPACES_PER_USER:
            raise _too_many_workspaces()
        workspace = new_id()
        now = int(self._clock() * 1000)
        key = {ACCESS_KEY: f"workspace#{workspace}"}
        self._table.put_item(
            Item={**key, "name": name, "createdBy": user, "createdAt": now, "admins": 0, "members": 0},
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": ACCESS_KEY},
        )
        try:
            self._join(workspace, name, user=user, email=email, role=ADMIN, now=now)
        except ConflictError:
            # Another of the user's creations took the last place meanwhile.
            self._table.delete_item(Key=key)
            raise
        return {"id": workspace, "name": name, "role": ADMIN, "personal": False, "createdAt": now}

    def add_member(self, workspace: str, *, user: str, email: str, role: str) -> dict[str, Any]:
        """Make ``user`` a member; a member already keeps their role, or becomes an admin. 409 when full."""
        found = self._table.get_item(Key={ACCESS_KEY: f"workspace#{workspace}"}).get("Item")
        if found is None:
            raise NotFoundError("no such workspace")
        current = self.role(workspace, user)
        if current is not None:
            # An invite never demotes: an admin who redeems a member's invite stays an admin.
            if role == ADMIN and current != ADMIN:
                return self.set_role(workspace, user, ADMIN)
            return {"user": user, "email": email, "role": current}
        self._join(workspace, str(found["name"]), user=user, email=email, role=role, now=int(self._clock() * 1000))
        return {"user": user, "email": email, "role": role}

    def remove_member(self, workspace: str, user: str) -> None:
        """Take ``user`` out of the workspace; 409 for its last admin."""
        role = self.role(workspace, user) if is_user_id(user) else None
        if role is None or workspace == user:
            raise NotFoundError("no such member", code="no_such_member")
        self._write(
            workspace,
            user,
            admins=-1 if role == ADMIN else 0,
            members=-1,
            membership=[self._held(operation="Delete", key=key, role=role) for key in self._keys(workspace, user)],
        )

    def set_role(self, workspace: str, user: str, role: str) -> dict[str, Any]:
        """Make a member an admin or a member; 409 when that would leave the workspace without an admin."""
        current = self.role(workspace, user) if is_user_id(user) else None
        if current is None or workspace == user:
            raise NotFoundError("no such member", code="no_such_member")
        if current != role:
            self._write(
                workspace,
                user,
                admins=1 if role == ADMIN else -1,
                members=0,
                membership=[
                    self._held(operation="Update", key=key, role=current, set_role=role)
                    for key in self._keys(workspace, user)
                ],
            )
        return next(member for member in self.members(workspace) if member["user"] == user)

    @staticmethod
    def _keys(workspace: str, user: str) -> tuple[str, str]:
        return _member_key(workspace, user), _memberof_key(user, workspace)

    def _held(self, *, operation: str, key: str, role: str, set_role: str | None = None) -> dict[str, Any]:
        """A transaction's Delete or Update of a membership item, only while it holds the role read."""
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": {ACCESS_KEY: key},
            "ConditionExpression": "#role = :was",
            "ExpressionAttributeNames": {"#role": "role"},
            "ExpressionAttributeValues": {":was": role},
        }
        if set_role is not None:
            request["UpdateExpression"] = "SET #role = :role"
            request["ExpressionAttributeValues"][":role"] = set_role
        return {operation: request}

    def _write(self, workspace: str, user: str, *, admins: int, members: int, membership: list[dict[str, Any]]) -> None:
        """Apply ``membership`` and the counts it changes as one transaction.

        The workspace's item counts its ``admins`` and ``members``, the user's
        ``usercount#<user>`` item the team workspaces they are in. Taking an admin away
        decrements only while more than one is left, and a join increments only below
        the limits, so concurrent requests can neither leave a workspace without an admin
        nor pass MAX_MEMBERS or MAX_WORKSPACES_PER_USER. Each membership item is written
        only in the state read (``_held``, or absent for a join): a change made meanwhile
        cancels this one.
        """
        self._count_workspace(workspace)
        if members:
            self._user_count(user)
        table = self._table.name
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        added: list[str] = []
        conditions: list[str] = []
        for attribute, delta in (("admins", admins), ("members", members)):
            if delta:
                names[f"#{attribute}"] = attribute
                values[f":{attribute}"] = delta
                added.append(f"#{attribute} :{attribute}")
        if admins < 0:
            conditions.append("#admins > :one")
            values[":one"] = 1
        if members > 0:
            conditions.append("#members < :most")
            values[":most"] = MAX_MEMBERS
        items: list[dict[str, Any]] = []
        if added:
            counter: dict[str, Any] = {
                "TableName": table,
                "Key": {ACCESS_KEY: f"workspace#{workspace}"},
                "UpdateExpression": "ADD " + ", ".join(added),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
            if conditions:
                counter["ConditionExpression"] = " AND ".join(conditions)
            items.append({"Update": counter})
        if members:
            joined: dict[str, Any] = {
                "TableName": table,
                "Key": {ACCESS_KEY: f"usercount#{user}"},
                "UpdateExpression": "ADD workspaces :delta",
                "ExpressionAttributeValues": {":delta": members},
            }
            if members > 0:
                joined["ConditionExpression"] = "workspaces < :most"
                joined["ExpressionAttributeValues"][":most"] = MAX_WORKSPACES_PER_USER
            items.append({"Update": joined})
        items += membership
        try:
            # The resource's own client: it takes plain values, as the table does.
            self._table.meta.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            failed = [
                reason.get("Code") == "ConditionalCheckFailed"
                for reason in exc.response.get("CancellationReasons") or []
            ]
            if added and failed[:1] == [True] and admins < 0:
                raise ConflictError("a workspace keeps at least one admin", code="last_admin") from None
            if added and failed[:1] == [True] and members > 0:
                raise ConflictError(f"a workspace has at most {MAX_MEMBERS} members", code="workspace_full") from None
            if members > 0 and len(failed) > 1 and failed[1]:
                raise _too_many_workspaces() from None
            raise ConflictError("the workspace changed meanwhile; try again", code="conflict") from exc

    def _count_workspace(self, workspace: str) -> None:
        """Give a workspace made before its admins and members were counted its counts (once)."""
        item = self._table.get_item(Key={ACCESS_KEY: f"workspace#{workspace}"}, ConsistentRead=True).get("Item")
        if item is None or ("admins" in item and "members" in item):
            return
        present = self.members(workspace)
        try:
            self._table.update_item(
                Key={ACCESS_KEY: f"workspace#{workspace}"},
                UpdateExpression="SET admins = :admins, members = :members",
                ConditionExpression="attribute_not_exists(admins) OR attribute_not_exists(members)",
                ExpressionAttributeValues={
                    ":admins": sum(1 for member in present if member["role"] == ADMIN),
                    ":members": len(present),
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _user_count(self, user: str) -> int:
        """How many team workspaces the user is in, counted from their memberships the first time."""
        key = {ACCESS_KEY: f"usercount#{user}"}
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        if item is not None and "workspaces" in item:
            return int(item["workspaces"])
        count = len(self._memberships(user, limit=10**6))
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression="SET workspaces = :count",
                ConditionExpression="attribute_not_exists(workspaces)",
                ExpressionAttributeValues={":count": count},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self._user_count(user)
        return count

    def members(self, workspace: str, *, limit: int = MAX_MEMBERS) -> list[dict[str, Any]]:
        """The workspace's members, first joined first."""
        return [
            {"user": item[ACCESS_KEY].rsplit("#", 1)[1], "email": item.get("email", ""), "role": item["role"]}
            for item in self._children(f"members#{workspace}", limit)
        ]

    def for_user(self, user: str) -> list[dict[str, Any]]:
        """The user's workspaces: the personal one first, then the team ones they belong to."""
        personal = {"id": user, "name": "Personal", "role": ADMIN, "personal": True}
        return [personal, *self._memberships(user, limit=MAX_WORKSPACES_PER_USER)]

    def describe(self, workspace: str) -> dict[str, Any]:
        """A team workspace's settings: its name and the email domain invites must be for (or null)."""
        item = self._table.get_item(Key={ACCESS_KEY: f"workspace#{workspace}"}, ConsistentRead=True).get("Item")
        if item is None:
            raise NotFoundError("no such workspace", code="no_such_workspace")
        return {"id": workspace, "name": item["name"], "allowedDomain": item.get("allowedDomain")}

    def set_allowed_domain(self, workspace: str, domain: str | None) -> dict[str, Any]:
        """Invites go only to addresses of ``domain`` from now on (None: any); pending ones stay as they are."""
        update = {"UpdateExpression": "SET allowedDomain = :domain", "ExpressionAttributeValues": {":domain": domain}}
        if domain is None:
            update = {"UpdateExpression": "REMOVE allowedDomain"}
        self._table.update_item(
            Key={ACCESS_KEY: f"workspace#{workspace}"},
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames={"#pk": ACCESS_KEY},
            **update,
        )
        return self.describe(workspace)

    def settings(self, workspace: str, *, role: str, stack_days: int) -> dict[str, Any]:
        """A workspace's settings as GET and PATCH answer them, with the caller's role."""
        described = (
            self.describe(workspace)
            if is_team_id(workspace)
            else {"id": workspace, "name": "Personal", "allowedDomain": None}
        )
        own = self.retention(workspace)
        return {
            **described,
            "retentionDays": own or stack_days,
            "ownRetention": own is not None,
            "stackRetentionDays": stack_days,
            "role": role,
        }

    def configure(self, workspace: str, body: dict[str, Any], *, stack_days: int) -> None:
        """Apply ``{"allowedDomain", "retentionDays"}`` (either or both); every field is checked before any change."""
        unknown = sorted(set(body) - {"allowedDomain", "retentionDays"})
        if unknown:
            raise BadRequestError(f"{unknown[0]} is not a workspace setting", code="invalid_settings")
        if "allowedDomain" not in body and "retentionDays" not in body:
            raise BadRequestError("give allowedDomain or retentionDays", code="invalid_settings")
        domain = allowed_domain(body) if "allowedDomain" in body else None
        days = retention_days(body, most=stack_days) if "retentionDays" in body else None
        if "allowedDomain" in body:
            if not is_team_id(workspace):
                raise ConflictError("a personal workspace has no invites", code="personal_workspace")
            self.set_allowed_domain(workspace, domain)
        if "retentionDays" in body:
            self.set_retention(workspace, days)

    def retention(self, workspace: str) -> int | None:
        """The workspace's own retention in days, or None when it keeps the stack's."""
        item = self._table.get_item(Key={ACCESS_KEY: f"workspace#{workspace}"}, ConsistentRead=True).get("Item")
        return int(item["retentionDays"]) if item and "retentionDays" in item else None

    def set_retention(self, workspace: str, days: int | None) -> None:
        """Keep the workspace's recordings ``days`` days (None: the stack's retention).

        A workspace with its own retention is listed under the ``byParent`` index's
        ``retention`` parent, so the hourly expiry finds exactly those with no Scan. A
        personal workspace gets a settings item of its own (its id is its user's).
        """
        key = {ACCESS_KEY: f"workspace#{workspace}"}
        if days is None:
            self._table.update_item(
                Key=key,
                UpdateExpression="REMOVE retentionDays, #parent",
                ExpressionAttributeNames={"#parent": PARENT_ATTRIBUTE},
            )
            return
        self._table.update_item(
            Key=key,
            UpdateExpression="SET retentionDays = :days, #parent = :parent, createdAt = if_not_exists(createdAt, :now)",
            ExpressionAttributeNames={"#parent": PARENT_ATTRIBUTE},
            ExpressionAttributeValues={
                ":days": days,
                ":parent": RETENTION_PARENT,
                ":now": int(self._clock() * 1000),
            },
        )

    def with_retention(self) -> list[tuple[str, int]]:
        """Every workspace with a retention of its own, and its days (oldest setting first)."""
        return [
            (item[ACCESS_KEY].split("#", 1)[1], int(item["retentionDays"]))
            for item in self._children(RETENTION_PARENT, limit=10**9)
        ]

    def invite(
        self,
        workspace: str,
        *,
        email: str,
        role: str,
        by: str,
        provide: Callable[[str, Callable[[], None]], None] | None = None,
    ) -> dict[str, Any]:
        """A new invite (its token is in this answer only; the table keeps its hash), valid a week.

        ``provide`` makes sure the address can sign in (``Accounts.provide_account``),
        once the invite passed its checks and before it is kept: an invite that failed
        there was never made and counts against no limit. It calls the function it is
        given right before it creates an account, which counts that account against the
        stack's MAX_INVITED_ACCOUNTS_PER_DAY.
        """
        domain = self.describe(workspace)["allowedDomain"]
        if domain and email.rsplit("@", 1)[1] != domain:
            raise BadRequestError(f"this workspace invites addresses of {domain} only", code="email_domain")
        if any(member["email"] == email for member in self.members(workspace)):
            raise ConflictError("this address is a member already", code="already_member")
        if len(self.invites(workspace)) >= MAX_PENDING_INVITES:
            raise ConflictError(f"at most {MAX_PENDING_INVITES} pending invites", code="too_many_invites")
        day = int(self._clock() // 86400)
        mine = f"invitecount#{by}#{day}"
        self._count(mine, most=MAX_INVITES_PER_DAY, what="invites an admin sends a day")
        try:
            if provide is not None:
                stack = f"invitedaccounts#{day}"
                provide(email, lambda: self._count(stack, most=MAX_INVITED_ACCOUNTS_PER_DAY, what=_ACCOUNTS_A_DAY))
        except Exception:
            self._uncount(mine)
            raise
        invite_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        now = self._clock()
        expires = int(now) + INVITE_SECONDS
        self._table.put_item(
            Item={
                ACCESS_KEY: f"invite#{invite_id}",
                "workspace": workspace,
                "email": email,
                "role": role,
                "invitedBy": by,
                "secretHash": _digest(secret),
                PARENT_ATTRIBUTE: f"invites#{workspace}",
                "createdAt": int(now * 1000),
                # DynamoDB's TTL removes it once expired (epoch seconds).
                TTL_ATTRIBUTE: expires,
            },
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": ACCESS_KEY},
        )
        return {
            "id": invite_id,
            "email": email,
            "role": role,
            "expiresAt": expires * 1000,
            "token": f"{INVITE_PREFIX}{invite_id}_{secret}",
        }

    def _count(self, key: str, *, most: int, what: str) -> None:
        """Count one against a daily counter, exactly: 429 (until the next UTC day) once it holds ``most``."""
        now = self._clock()
        day = int(now // 86400)
        try:
            self._table.update_item(
                Key={ACCESS_KEY: key},
                UpdateExpression="ADD #sent :one SET #ttl = :expires",
                ConditionExpression="attribute_not_exists(#sent) OR #sent < :max",
                ExpressionAttributeNames={"#sent": "sent", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":one": 1, ":max": most, ":expires": (day + 2) * 86400},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise TooManyRequestsError(f"at most {most} {what}", retry_after=(day + 1) * 86400 - int(now)) from None

    def _uncount(self, key: str) -> None:
        """Give back one count taken by ``_count`` for work that was then refused."""
        self._table.update_item(
            Key={ACCESS_KEY: key},
            UpdateExpression="ADD #sent :minus",
            ConditionExpression="#sent > :zero",
            ExpressionAttributeNames={"#sent": "sent"},
            ExpressionAttributeValues={":minus": -1, ":zero": 0},
        )

    def invites(self, workspace: str) -> list[dict[str, Any]]:
        """The workspace's pending invites (never their tokens), oldest first."""
        now = self._clock()
        pending = [
            item
            # Past the limit too (concurrent invites may pass it by a few): none is hidden.
            for item in self._children(f"invites#{workspace}", MAX_PENDING_INVITES * 4)
            if int(item[TTL_ATTRIBUTE]) > now
        ]
        emails = {member["user"]: member["email"] for member in self.members(workspace)} if pending else {}
        return [
            {
                "id": item[ACCESS_KEY].split("#", 1)[1],
                "email": item["email"],
                "role": item["role"],
                "expiresAt": int(item[TTL_ATTRIBUTE]) * 1000,
                # Who made it (empty once they left): what an admin needs to judge an invite.
                "invitedBy": emails.get(str(item["invitedBy"]), ""),
            }
            for item in pending
        ]

    def revoke_invite(self, workspace: str, invite_id: str) -> None:
        """Delete a pending invite of this workspace (404 for any other)."""
        if not re.fullmatch(r"[0-9a-f]{16}", invite_id):
            raise NotFoundError("no such invite")
        try:
            self._table.delete_item(
                Key={ACCESS_KEY: f"invite#{invite_id}"},
                ConditionExpression="workspace = :workspace",
                ExpressionAttributeValues={":workspace": workspace},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise NotFoundError("no such invite") from None

    def redeem(self, invite_id: str, secret: str, *, user: str, email: str) -> dict[str, Any]:
        """Join the invite's workspace as the user whose email it names; the invite is then spent.

        An unknown, revoked, expired or spent invite, a wrong secret, and another user's
        invite all answer the same 404.
        """
        item = self._table.get_item(Key={ACCESS_KEY: f"invite#{invite_id}"}, ConsistentRead=True).get("Item")
        valid = (
            item is not None
            and hmac.compare_digest(str(item["secretHash"]), _digest(secret))
            and int(item[TTL_ATTRIBUTE]) > self._clock()
            and email.strip().lower() == item["email"]
        )
        # An invite stands only while whoever made it is an admin there: an admin removed
        # or demoted cannot come back through an invite they made out to themselves.
        if not valid or item is None or self.role(str(item["workspace"]), str(item["invitedBy"])) != ADMIN:
            raise NotFoundError("no such invite, or it is not for this account", code="no_such_invite")
        workspace = str(item["workspace"])
        self.add_member(workspace, user=user, email=item["email"], role=str(item["role"]))
        self._table.delete_item(Key={ACCESS_KEY: f"invite#{invite_id}"})
        return next(found for found in self.for_user(user) if found["id"] == workspace)

    def _memberships(self, user: str, *, limit: int) -> list[dict[str, Any]]:
        return [
            {"id": item[ACCESS_KEY].rsplit("#", 1)[1], "name": item["name"], "role": item["role"], "personal": False}
            for item in self._children(f"memberof#{user}", limit)
        ]

    def _children(self, parent: str, limit: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "IndexName": INDEX_BY_PARENT,
            "KeyConditionExpression": f"{PARENT_ATTRIBUTE} = :parent",
            "ExpressionAttributeValues": {":parent": parent},
        }
        while len(items) < limit:
            page = self._table.query(**query, Limit=limit - len(items))
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    def _join(self, workspace: str, name: str, *, user: str, email: str, role: str, now: int) -> None:
        member = {
            ACCESS_KEY: _member_key(workspace, user),
            "role": role,
            "email": email,
            PARENT_ATTRIBUTE: f"members#{workspace}",
            "createdAt": now,
        }
        memberof = {
            ACCESS_KEY: _memberof_key(user, workspace),
            "role": role,
            "name": name,
            PARENT_ATTRIBUTE: f"memberof#{user}",
            "createdAt": now,
        }
        # A new membership, never over one made meanwhile, counted where it counts.
        puts = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": ACCESS_KEY},
                }
            }
            for item in (member, memberof)
        ]
        self._write(workspace, user, admins=1 if role == ADMIN else 0, members=1, membership=puts)
