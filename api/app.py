"""rrweb-s3-storage API: routes only; the work happens in ``chalicelib``."""

from __future__ import annotations

import functools
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from chalice import Chalice, Rate, Response
from chalice.app import KinesisEvent, Request

from chalicelib import (
    assets,
    comments,
    controls,
    function_url,
    observability,
    reader,
    settings,
    validation,
    workspaces,
)
from chalicelib.auth import INGEST, PUBLIC, USER, Principal
from chalicelib.aws import get_cors, get_services
from chalicelib.consumer import StreamConsumer, StreamRecord
from chalicelib.cors import ANY
from chalicelib.errors import BadRequestError, ConflictError
from chalicelib.http import endpoint, json_headers, normalise_framework_errors, with_cors

app = Chalice(app_name="rrweb-s3-storage")
# Gzip request bodies and event pages travel as binary through API Gateway. The
# recorder sends gzip as text/plain (a CORS-simple request: no preflight).
app.api.binary_types = [*app.api.binary_types, "application/gzip", "application/x-ndjson", "text/plain"]
# One JSON log line per request (request id, route, status, time), never a body or key.
observability.install(app)

EVENT_BODY_TYPES = ["application/json", "application/octet-stream", "application/gzip", "text/plain"]
JSON_BODY_TYPES = ["application/json", "text/plain"]


def _authenticate(request: Any, *, access: str) -> Principal:
    return get_services().authenticator.authenticate(request, access=access)


def api(access: str, cors: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The endpoint decorator bound to this app's authenticator."""
    return endpoint(app, access=access, cors=cors, authenticate=_authenticate)


def _current_request() -> Request:
    """The request a route is handling (Chalice sets it before calling any route)."""
    request = app.current_request
    assert request is not None, "called outside a request"
    return request


# No annotated local variables in this module: `chalice package` analyses it to draft IAM
# policies, and its analyzer fails on a local annotation's names. Helpers carry the types.
def _query(request: Request) -> Mapping[str, str]:
    """The request's query parameters (Chalice gives None for none)."""
    return request.query_params or {}


def _body_bytes(request: Request) -> bytes:
    """The request's body; Chalice makes ``raw_body`` bytes, though its annotation also admits str."""
    body = request.raw_body or b""
    return body if isinstance(body, bytes) else body.encode("utf-8")


@app.middleware("http")
def errors_and_cors(event: Any, get_response: Any) -> Response:
    """One error shape for framework errors too, and CORS by route audience."""
    return with_cors(app, get_cors(), event, normalise_framework_errors(get_response(event)))


@app.route("/health", methods=["GET"])
@api(PUBLIC, cors=ANY)
def health() -> dict[str, str]:
    """Liveness: the function runs (touches no dependency, so a health check costs no AWS call).

    The local stack answers 503 in front of it while its embedded AWS is down.
    """
    return {"status": "ok"}


def _account_body() -> dict[str, Any]:
    """A public /auth/* request's JSON body, once its client address is within those routes' limit."""
    request = _current_request()
    services = get_services()
    services.accounts.admit(services.authenticator.client_address(request))
    return validation.json_object(request.raw_body)


@app.route("/auth/signup", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(PUBLIC)
def sign_up() -> Response:
    """Register with email and password (403 unless the stack takes sign-ups); Cognito emails a confirmation code."""
    body = get_services().accounts.sign_up(_account_body())
    return Response(body=body, status_code=201, headers=json_headers())


@app.route("/auth/confirm", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(PUBLIC)
def confirm_sign_up() -> Response:
    """Confirm the account with the emailed code."""
    get_services().accounts.confirm(_account_body())
    return Response(body="", status_code=204)


@app.route("/auth/resend", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(PUBLIC)
def resend_confirmation_code() -> Response:
    """Email a new confirmation code; the same answer whether or not the address awaits one."""
    get_services().accounts.resend_code(_account_body())
    return Response(
        body={"message": "if this address has an account to confirm, a new code is on its way"},
        status_code=202,
        headers=json_headers(),
    )


@app.route("/auth/signin", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(PUBLIC)
def sign_in() -> dict[str, Any]:
    """Access, id and refresh tokens for email and password, or an invited user's new-password challenge."""
    return get_services().accounts.sign_in(_account_body())


@app.route("/auth/new-password", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(PUBLIC)
def set_new_password() -> dict[str, Any]:
    """An invited user's own password in place of the temporary one: tokens."""
    return get_services().accounts.set_new_password(_account_body())


@app.route("/auth/forgot", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(PUBLIC)
def forgot_password() -> Response:
    """Email a password reset code; the same answer whether or not the address has an account."""
    get_services().accounts.forgot_password(_account_body())
    return Response(
        body={"message": "if this address has an account, a reset code is on its way"},
        status_code=202,
        headers=json_headers(),
    )


@app.route("/auth/reset", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(PUBLIC)
def reset_password() -> Response:
    """Set a new password with the emailed reset code."""
    get_services().accounts.reset_password(_account_body())
    return Response(body="", status_code=204)


@app.route("/auth/refresh", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(PUBLIC)
def refresh_tokens() -> dict[str, Any]:
    """Fresh access and id tokens for a refresh token."""
    return get_services().accounts.refresh(_account_body())


@app.route("/keys", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(USER)
def create_key(principal: Principal) -> Response:
    """A new named ingest key (its secret is in this response and nowhere else), or the key for a purpose.

    ``{"purpose": "bookmarklet" | "demo"}`` answers the caller's active key for it with
    its secret (200), or a new one (201).
    """
    body = validation.json_object(_current_request().raw_body, allow_empty=True)
    keys = get_services().keys
    if "purpose" in body:
        # Any member records with the workspace's demo and bookmarklet keys.
        key, created = keys.for_purpose(principal.owner, body)
    else:
        principal.require_admin()
        key, created = keys.create(principal.owner, body), True
    return Response(body=key, status_code=201 if created else 200, headers=json_headers())


@app.route("/keys", methods=["GET"])
@api(USER)
def list_keys(principal: Principal) -> dict[str, Any]:
    """The workspace's ingest keys with their purpose (never their secrets); admins only."""
    principal.require_admin()
    return {"keys": get_services().keys.list(principal.owner)}


@app.route("/keys/{key_id}", methods=["DELETE"])
@api(USER)
def revoke_key(principal: Principal, key_id: str) -> Response:
    """Revoke an ingest key: refused everywhere within seconds; admins only."""
    principal.require_admin()
    get_services().keys.revoke(principal.owner, key_id)
    return Response(body="", status_code=204)


@app.route("/keys/{key_id}", methods=["PATCH"], content_types=JSON_BODY_TYPES)
@api(USER)
def configure_key(principal: Principal, key_id: str) -> dict[str, Any]:
    """Set or clear an ingest key's recording ``controls`` and ``allowedOrigins`` (null clears); admins only."""
    principal.require_admin()
    body = validation.json_object(_current_request().raw_body)
    if not body or set(body) - {"controls", "allowedOrigins"}:
        raise BadRequestError(
            'expected {"controls": {...}, "allowedOrigins": [...]} (either or both; null clears)', code="invalid_key"
        )
    return {"id": key_id, **get_services().keys.configure(principal.owner, key_id, body)}


@app.route("/blocked", methods=["GET"])
@api(INGEST)
def report_blocked(principal: Principal) -> Response:
    """A recorder's report that the page's Content-Security-Policy blocked it (an image request: no CORS, no body)."""
    query = _query(_current_request())
    directive, blocked = controls.blocked_report(query.get("directive"), query.get("uri"))
    if principal.key_id:
        get_services().keys.note_blocked(principal.key_id, directive, blocked, now_ms=int(time.time() * 1000))
    return Response(body="", status_code=204)


@app.route("/controls", methods=["GET"])
@api(INGEST)
def key_controls(principal: Principal) -> Response:
    """The recording controls of the ingest key sent: a snippet with data-key-controls reads them first."""
    chosen = get_services().keys.controls_of(principal.key_id) if principal.key_id else {}
    headers = json_headers()
    # The browser keeps them a few minutes: a visitor's pages ask again at most that often.
    headers["Cache-Control"] = f"public, max-age={settings.CONTROLS_MAX_AGE_SECONDS}"
    # The key may come in the header instead of the URL: a shared cache keys on it too.
    headers["Vary"] = "Authorization"
    return Response(body={"controls": chosen}, status_code=200, headers=headers)


@app.route("/workspaces", methods=["GET"])
@api(USER)
def list_workspaces(principal: Principal) -> dict[str, Any]:
    """The caller's workspaces: their personal one first, then the team ones they belong to."""
    return {"workspaces": get_services().workspaces.for_user(_user(principal))}


@app.route("/workspaces", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(USER)
def create_workspace(principal: Principal) -> Response:
    """A new team workspace ``{"name"}``, with the caller as its admin."""
    name = workspaces.workspace_name(validation.json_object(_current_request().raw_body))
    services = get_services()
    email = services.accounts.email(principal.token or "")
    created = services.workspaces.create(user=_user(principal), email=email, name=name)
    return Response(body=created, status_code=201, headers=json_headers())


@app.route("/workspaces/{workspace_id}", methods=["GET"])
@api(USER)
def describe_workspace(principal: Principal, workspace_id: str) -> dict[str, Any]:
    """A workspace's settings (any member), with the caller's role."""
    service = get_services().workspaces
    role = service.require(workspace_id, _user(principal))
    return service.settings(workspace_id, role=role, stack_days=_stack_retention())


@app.route("/workspaces/{workspace_id}", methods=["PATCH"], content_types=JSON_BODY_TYPES)
@api(USER)
def configure_workspace(principal: Principal, workspace_id: str) -> dict[str, Any]:
    """Set ``{"allowedDomain", "retentionDays"}`` (either or both; admins): invites' email domain, retention."""
    service = get_services().workspaces
    service.require(workspace_id, _user(principal), admin=True)
    body = validation.json_object(_current_request().raw_body)
    service.configure(workspace_id, body, stack_days=_stack_retention())
    return service.settings(workspace_id, role=workspaces.ADMIN, stack_days=_stack_retention())


def _stack_retention() -> int:
    """The stack's retention in days: the most a workspace may keep recordings."""
    return settings.get_settings().retention_days or settings.MAX_RETENTION_DAYS


@app.route("/workspaces/{workspace_id}/members", methods=["GET"])
@api(USER)
def list_members(principal: Principal, workspace_id: str) -> dict[str, Any]:
    """The workspace's members and their roles (any member may see them)."""
    service = get_services().workspaces
    service.require(workspace_id, _user(principal))
    return {"members": service.members(workspace_id)}


@app.route("/workspaces/{workspace_id}/members/{user_id}", methods=["DELETE"])
@api(USER)
def remove_member(principal: Principal, workspace_id: str, user_id: str) -> Response:
    """Take a member out (an admin), or leave (the member); refused on their next request."""
    service = get_services().workspaces
    service.require(workspace_id, _user(principal), admin=user_id != principal.user)
    service.remove_member(workspace_id, user_id)
    return Response(body="", status_code=204)


@app.route("/workspaces/{workspace_id}/members/{user_id}", methods=["PATCH"], content_types=JSON_BODY_TYPES)
@api(USER)
def change_member_role(principal: Principal, workspace_id: str, user_id: str) -> dict[str, Any]:
    """Set a member's ``{"role"}`` (admins); the last admin stays one (409 ``last_admin``)."""
    service = get_services().workspaces
    service.require(workspace_id, _user(principal), admin=True)
    role = workspaces.role_of(validation.json_object(_current_request().raw_body), required=True)
    return service.set_role(workspace_id, user_id, role)


@app.route("/workspaces/{workspace_id}/invites", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(USER)
def create_invite(principal: Principal, workspace_id: str) -> Response:
    """Invite ``{"email", "role"}`` into a team workspace (admins); the token is in this answer only."""
    service = get_services().workspaces
    service.require(workspace_id, _user(principal), admin=True)
    if not workspaces.is_team_id(workspace_id):
        raise ConflictError("a personal workspace has no other members", code="personal_workspace")
    body = validation.json_object(_current_request().raw_body)
    email, role = workspaces.invite_email(body), workspaces.role_of(body)
    accounts = get_services().accounts
    invite = service.invite(workspace_id, email=email, role=role, by=_user(principal), provide=accounts.provide_account)
    return Response(body=invite, status_code=201, headers=json_headers())


@app.route("/workspaces/{workspace_id}/invites", methods=["GET"])
@api(USER)
def list_invites(principal: Principal, workspace_id: str) -> dict[str, Any]:
    """The workspace's pending invites (admins)."""
    service = get_services().workspaces
    service.require(workspace_id, _user(principal), admin=True)
    return {"invites": service.invites(workspace_id)}


@app.route("/workspaces/{workspace_id}/invites/{invite_id}", methods=["DELETE"])
@api(USER)
def revoke_invite(principal: Principal, workspace_id: str, invite_id: str) -> Response:
    """Revoke a pending invite (admins): its link then answers as one that never existed."""
    service = get_services().workspaces
    service.require(workspace_id, _user(principal), admin=True)
    service.revoke_invite(workspace_id, invite_id)
    return Response(body="", status_code=204)


@app.route("/invites/redeem", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(USER)
def redeem_invite(principal: Principal) -> dict[str, Any]:
    """Join the workspace of an invite ``{"token"}`` made out to the signed-in user's email."""
    invite_id, secret = workspaces.invite_token(validation.json_object(_current_request().raw_body))
    services = get_services()
    email = services.accounts.email(principal.token or "")
    return services.workspaces.redeem(invite_id, secret, user=_user(principal), email=email)


@app.route("/recordings/{recording_id}/shares", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(USER)
def create_share(principal: Principal, recording_id: str) -> Response:
    """A read-only link to the recording ``{"days", "at"}``, opened without an account; the token is shown once."""
    body = validation.json_object(_current_request().raw_body, allow_empty=True)
    created = get_services().shares.create(principal.owner, recording_id, body, by=_user(principal))
    return Response(body=created, status_code=201, headers=json_headers())


@app.route("/recordings/{recording_id}/shares", methods=["GET"])
@api(USER)
def list_shares(principal: Principal, recording_id: str) -> dict[str, Any]:
    """The recording's links that have not expired (never their tokens)."""
    return {"shares": get_services().shares.list(principal.owner, recording_id)}


@app.route("/recordings/{recording_id}/shares/{share_id}", methods=["DELETE"])
@api(USER)
def revoke_share(principal: Principal, recording_id: str, share_id: str) -> Response:
    """Revoke a link: it then answers as one that never existed."""
    get_services().shares.revoke(principal.owner, recording_id, share_id)
    return Response(body="", status_code=204)


@app.route("/recordings/delete", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(USER)
def delete_recordings(principal: Principal) -> dict[str, Any]:
    """Delete the recordings ``{"ids": [...]}`` (at most 50; admins): the list's selection."""
    principal.require_admin()
    ids = validation.recording_ids(validation.json_object(_current_request().raw_body), settings.DELETE_BATCH)
    return get_services().recordings.delete_many(principal.owner, ids)


@app.route("/people/{user_id}/recordings", methods=["DELETE"])
@api(USER)
def delete_person(principal: Principal, user_id: str) -> dict[str, Any]:
    """Delete the recordings of one identified visitor (the id given to identify), 50 a call (admins).

    The answer reports what was deleted; ``more`` says others remain (call again).
    """
    principal.require_admin()
    user = validation.user_id(urllib.parse.unquote(user_id))
    return get_services().recordings.delete_person(principal.owner, user)


@app.route("/recordings/{recording_id}/comments", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(USER)
def add_comment(principal: Principal, recording_id: str) -> Response:
    """A comment ``{"at", "text"}`` on the recording's timeline (any member)."""
    at, text = comments.comment_body(validation.json_object(_current_request().raw_body))
    services = get_services()
    email = services.accounts.email(principal.token or "")
    added = services.comments.add(principal.owner, recording_id, at=at, text=text, author=_user(principal), email=email)
    return Response(body=added, status_code=201, headers=json_headers())


@app.route("/recordings/{recording_id}/comments", methods=["GET"])
@api(USER)
def list_comments(principal: Principal, recording_id: str) -> dict[str, Any]:
    """The recording's comments, by moment."""
    return {"comments": get_services().comments.of(principal.owner, recording_id)}


@app.route("/recordings/{recording_id}/comments/{comment_id}", methods=["DELETE"])
@api(USER)
def delete_comment(principal: Principal, recording_id: str, comment_id: str) -> Response:
    """Delete a comment (its author, or a workspace admin)."""
    admin = principal.role == workspaces.ADMIN
    get_services().comments.delete(principal.owner, recording_id, comment_id, user=_user(principal), admin=admin)
    return Response(body="", status_code=204)


@app.route("/shared/{token}", methods=["GET"])
@api(PUBLIC)
def open_share(token: str) -> dict[str, Any]:
    """What a share link shows: the recording's replay metadata and the moment it opens at."""
    shares = get_services().shares
    return shares.view(_opened(token))


@app.route("/shared/{token}/events", methods=["GET"])
@api(PUBLIC)
def shared_events(token: str) -> dict[str, Any]:
    """One page of a shared recording's events (``after``: the previous page's ``next``), with its assets' reads."""
    opened = _opened(token)
    return get_services().shares.events(opened, _query(_current_request()).get("after"))


@app.route("/shared/{token}/blocks", methods=["GET"])
@api(PUBLIC)
def shared_blocks(token: str) -> dict[str, Any]:
    """A shared recording's compacted blocks, as ``/recordings/{id}/blocks``, with its assets' reads."""
    opened = _opened(token)
    return get_services().shares.blocks(opened, _query(_current_request()).get("after"))


def _opened(token: str) -> Any:
    """The recording a share token opens (404 for any token that opens nothing), its caller's address charged."""
    services = get_services()
    return services.shares.open(token, services.authenticator.client_address(_current_request()))


def _user(principal: Principal) -> str:
    """The signed-in user acting (every USER route has one)."""
    assert principal.user is not None, "a user route without a user"
    return principal.user


@app.route("/recordings", methods=["POST"], content_types=EVENT_BODY_TYPES)
@api(INGEST)
def create_recording(principal: Principal) -> Response:
    """Create a recording (with its first batch, optionally), or return it again for a retried id."""
    request = _current_request()
    body, created = get_services().ingest.create(
        principal.owner,
        _body_bytes(request),
        request.headers.get("content-encoding"),
        admit=principal.admit,
        ask=_asker(principal),
        user_agent=request.headers.get("user-agent"),
    )
    return Response(body=body, status_code=201 if created else 200, headers=json_headers())


@app.route("/recordings", methods=["GET"])
@api(USER)
def list_recordings(principal: Principal) -> dict[str, Any]:
    """The owner's recordings, newest first, one page per call, optionally searched and filtered."""
    query = _query(_current_request())
    return get_services().recordings.list_page(
        principal.owner,
        limit=validation.list_limit(query.get("limit")),
        cursor=query.get("cursor"),
        filters=validation.list_filters(query),
    )


@app.route("/recordings/{recording_id}", methods=["GET"])
@api(USER)
def get_recording(principal: Principal, recording_id: str) -> dict[str, Any]:
    """One recording's metadata."""
    return get_services().recordings.describe(principal.owner, recording_id)


@app.route("/recordings/{recording_id}", methods=["DELETE"])
@api(USER)
def delete_recording(principal: Principal, recording_id: str) -> Response:
    """Delete a recording with its events and screenshot; admins only."""
    principal.require_admin()
    get_services().recordings.delete(principal.owner, recording_id)
    return Response(body="", status_code=204)


@app.route("/recordings/{recording_id}/events", methods=["POST"], content_types=EVENT_BODY_TYPES)
@api(INGEST)
def post_events(principal: Principal, recording_id: str) -> Response:
    """Append one batch ``{"seq", "events"}``; gzip bodies welcome."""
    request = _current_request()
    accepted = get_services().ingest.append(
        principal.owner,
        recording_id,
        _body_bytes(request),
        request.headers.get("content-encoding"),
        admit=principal.admit,
        ask=_asker(principal),
    )
    return Response(body=accepted, status_code=202, headers=json_headers())


def _asker(principal: Principal) -> Callable[[str, tuple[assets.Wanted, ...]], dict[str, Any]]:
    """Answers a page's asset question riding on its batch, for this key's owner and byte budget."""

    def ask(recording_id: str, question: tuple[assets.Wanted, ...]) -> dict[str, Any]:
        asked = assets.AssetsRequest(recording_id=recording_id, assets=question)
        return get_services().assets.missing(principal.owner, asked, principal.admit_uploads)

    return ask


@app.route("/assets/missing", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(INGEST)
def missing_assets(principal: Principal) -> dict[str, Any]:
    """Which of a page's assets (SHA-256, size, type) the owner lacks, each with a presigned upload."""
    request = _current_request()
    assets.plain_body(request.headers.get("content-encoding"))
    asked = assets.parse(_body_bytes(request))
    # Charged before the lookups (a HeadObject per asset): a spent budget costs no S3 call.
    principal.admit(asked.recording_id, requests=assets.lookup_requests(len(asked.assets)))
    return get_services().assets.missing(principal.owner, asked, principal.admit_uploads)


@app.route("/assets/urls", methods=["POST"], content_types=JSON_BODY_TYPES)
@api(USER)
def asset_urls(principal: Principal) -> dict[str, Any]:
    """Short-lived reads of the signed-in owner's assets, for the replay to resolve references."""
    hashes = assets.parse_hashes(_body_bytes(_current_request()))
    return {"urls": get_services().assets.presigned_reads(principal.owner, hashes)}


@app.route("/recordings/{recording_id}/events", methods=["GET"])
@api(USER)
def get_events(principal: Principal, recording_id: str) -> Response:
    """The recording's events in order as JSON lines, a page per call, whatever the Accept header.

    gzip (a binary response) only when the client takes gzip and the FIRST media type
    of its Accept header is a binary type of this API: API Gateway decides whether to turn
    a function's base64 body back into bytes from that first type alone ("API Gateway
    uses the first Accept header from clients to determine if a response should return
    binary media", https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html),
    so for any other Accept a binary body would reach the client as base64 text (and
    Chalice itself refuses it). Otherwise the same lines go as text, whose type is not
    a binary one. ``watch=1`` (the replay page following a live recording) makes its
    recorder flush faster.
    """
    request = _current_request()
    query = _query(request)
    compress = reader.accepts_gzip(request.headers.get("accept-encoding")) and reader.first_type_is_binary(
        request.headers.get("accept"), app.api.binary_types
    )
    page = get_services().reader.page(
        principal.owner,
        recording_id,
        cursor=query.get("after"),
        accept_gzip=compress,
        watch=validation.flag(query.get("watch"), name="watch"),
    )
    headers = _page_headers(page)
    if page.gzip:
        return Response(body=page.body, status_code=200, headers=headers)
    # Text: a str body, which Chalice and Lambda's JSON response carry as it is.
    return Response(body=page.body.decode("utf-8"), status_code=200, headers=headers)


def _page_headers(page: reader.Page) -> dict[str, str | list[str]]:
    """An events page's type, event count and cursors (the next one only when more follow)."""
    return {
        "Content-Type": reader.EVENTS_GZIP_TYPE if page.gzip else reader.EVENTS_TEXT_TYPE,
        "Vary": "Accept, Accept-Encoding",
        "X-Event-Count": str(page.events),
        "X-Tail-Cursor": page.tail_cursor,
        **({"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}),
        **({"Content-Encoding": "gzip"} if page.gzip else {}),
    }


@app.route("/recordings/{recording_id}/blocks", methods=["GET"])
@api(USER)
def get_blocks(principal: Principal, recording_id: str) -> dict[str, Any]:
    """Short-lived presigned byte ranges of the compacted events, to fetch straight from S3, a bounded number per call
    (``after``: the previous answer's ``next``)."""
    query = _query(_current_request())
    return get_services().reader.blocks(principal.owner, recording_id, cursor=query.get("after"))


def preflight(**_: str) -> Response:
    """CORS preflight: the middleware adds what the caller's origin may do."""
    return Response(body="", status_code=204)


for _path in list(app.routes):
    app.route(_path, methods=["OPTIONS"])(preflight)


# The stream the consumer reads. Only the decorator needs a name; the stack's event
# source mapping (infra/api.py) binds the function to the stack's own stream, with the
# batching window, parallelization, retries and failure queue of the stack's config.
CONSUMED_STREAM = "rrweb-s3-storage-events"


# What Chalice requires of a Kinesis trigger; both consumers' mappings are the stack's own.
_consumer_trigger = functools.partial(
    app.on_kinesis_record,
    stream=CONSUMED_STREAM,
    batch_size=settings.CONSUMER_BATCH_SIZE,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=settings.CONSUMER_BATCHING_WINDOW_SECONDS,
)


@_consumer_trigger(name="consume_events")
def consume_events(event: KinesisEvent) -> dict[str, Any]:
    """The unwatched consumer: records nobody follows live, one S3 object per recording per invocation.

    Its mapping's window is the stack's ``consumerUnwatchedWindowSeconds`` (docs/architecture.md,
    "Two consumers").
    """
    return _consume(get_services().consumer, event)


@_consumer_trigger(name="consume_watched_events")
def consume_watched_events(event: KinesisEvent) -> dict[str, Any]:
    """The watched consumer: records marked ``live`` (someone follows the recording), on a window of a second."""
    return _consume(get_services().watched_consumer, event)


def _consume(consumer: StreamConsumer, event: KinesisEvent) -> dict[str, Any]:
    outcome = consumer.consume(StreamRecord.from_lambda(record.to_dict()) for record in event)
    observability.logger.info(
        "consumed",
        extra={
            "records": outcome.records,
            "objects": outcome.objects,
            "dropped": outcome.dropped,
            "poison": outcome.poison,
            "failed": len(outcome.failed),
        },
    )
    return outcome.response()


@app.schedule(Rate(settings.COMPACT_EVERY_MINUTES, unit=Rate.MINUTES), name="compact_recordings")
def compact_recordings(event: Any) -> dict[str, int]:
    """Compact recordings idle for the configured time into one object each."""
    del event
    counts = get_services().compactor.run()
    observability.logger.info("compaction run", extra={"outcomes": counts})
    return counts


@app.schedule(Rate(1, unit=Rate.HOURS), name="expire_recordings")
def expire_recordings(event: Any) -> dict[str, Any]:
    """Delete recordings past their workspace's own retention (chalicelib.retention)."""
    context = getattr(event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    started = time.monotonic()

    def seconds_left() -> float:
        # Lambda's own clock; the local stack's runs have the function's full timeout.
        if remaining is not None:
            return float(remaining()) / 1000
        return settings.EXPIRY_TIMEOUT_SECONDS - (time.monotonic() - started)

    counts = get_services().expiry.run(seconds_left=seconds_left)
    observability.logger.info("expiry run", extra={"outcomes": counts})
    return counts


@app.lambda_function(name="ingest")
def ingest(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The recorder's routes behind a Lambda function URL (``chalicelib.function_url``): no per-request charge."""
    return function_url.handle(app, event, context)


@app.lambda_function(name="reap_orphans")
def reap_orphans(event: dict[str, Any], context: Any) -> dict[str, int]:
    """S3 object-created notifications: reap objects of deleted recordings, note stored screenshots."""
    del context
    return get_services().recordings.reap_notification(event)
