"""rrweb-s3-storage API: routes only; the work happens in ``chalicelib``."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, CORSConfig, Response

from chalicelib import events, validation
from chalicelib.auth import current_owner
from chalicelib.aws import get_store
from chalicelib.http import JSON, api_errors, normalise_framework_errors

app = Chalice(app_name="rrweb-s3-storage")
# Gzip request bodies and event pages travel as binary through API Gateway.
app.api.binary_types = [*app.api.binary_types, "application/gzip", "application/x-ndjson"]

EVENT_BODY_TYPES = ["application/json", "application/octet-stream", "application/gzip", "text/plain"]
CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Content-Type", "Content-Encoding", "Authorization"],
    expose_headers=["X-Next-Cursor", "X-Event-Count", "Retry-After"],
    max_age=600,
)


@app.middleware("http")
def errors_in_api_shape(event: Any, get_response: Any) -> Response:
    """Give framework-generated errors the same JSON shape as the API's own."""
    return normalise_framework_errors(get_response(event))


@app.route("/health", methods=["GET"], cors=CORS)
def health() -> dict[str, str]:
    """Liveness: the function runs (touches no dependency)."""
    return {"status": "ok"}


@app.route("/recordings", methods=["POST"], cors=CORS, content_types=["application/json", "text/plain"])
@api_errors
def create_recording() -> Response:
    """Create a recording, or return the existing one when the client's id is retried."""
    request = app.current_request
    body, created = get_store().recordings.create(
        current_owner(request), validation.json_object(request.raw_body, allow_empty=True)
    )
    return Response(body=body, status_code=201 if created else 200, headers=JSON)


@app.route("/recordings", methods=["GET"], cors=CORS)
@api_errors
def list_recordings() -> dict[str, Any]:
    """The owner's recordings, newest first, one page per call."""
    request = app.current_request
    query = request.query_params or {}
    return get_store().recordings.list_page(
        current_owner(request), limit=validation.list_limit(query.get("limit")), cursor=query.get("cursor")
    )


@app.route("/recordings/{recording_id}", methods=["GET"], cors=CORS)
@api_errors
def get_recording(recording_id: str) -> dict[str, Any]:
    """One recording's metadata."""
    return get_store().recordings.describe(current_owner(app.current_request), recording_id)


@app.route("/recordings/{recording_id}", methods=["DELETE"], cors=CORS)
@api_errors
def delete_recording(recording_id: str) -> Response:
    """Delete a recording with its events and screenshot."""
    get_store().recordings.delete(current_owner(app.current_request), recording_id)
    return Response(body="", status_code=204)


@app.route("/recordings/{recording_id}/events", methods=["POST"], cors=CORS, content_types=EVENT_BODY_TYPES)
@api_errors
def post_events(recording_id: str) -> Response:
    """Append one batch ``{"seq", "events"}``; gzip bodies welcome."""
    request = app.current_request
    store = get_store()
    accepted = events.ingest(
        recordings=store.recordings,
        store=store.metadata,
        writer=store.writer,
        owner=current_owner(request),
        recording_id=recording_id,
        body=request.raw_body or b"",
        content_encoding=request.headers.get("content-encoding"),
    )
    return Response(body=accepted, status_code=202, headers=JSON)


@app.route("/recordings/{recording_id}/events", methods=["GET"], cors=CORS)
@api_errors
def get_events(recording_id: str) -> Response:
    """The recording's events in order as JSON lines, a page per call."""
    request = app.current_request
    owner = current_owner(request)
    store = get_store()
    store.recordings.require(owner, recording_id)
    page = store.reader.page(
        owner,
        recording_id,
        cursor=(request.query_params or {}).get("after"),
        accept_gzip=events.accepts_gzip(request.headers.get("accept-encoding")),
    )
    headers = {"Content-Type": "application/x-ndjson", "Vary": "Accept-Encoding", "X-Event-Count": str(page.events)}
    if page.gzip:
        headers["Content-Encoding"] = "gzip"
    if page.next_cursor:
        headers["X-Next-Cursor"] = page.next_cursor
    return Response(body=page.body, status_code=200, headers=headers)


@app.lambda_function(name="reap_orphans")
def reap_orphans(event: dict[str, Any], context: Any) -> dict[str, int]:
    """S3 object-created notifications: remove chunks that land after their recording was deleted."""
    del context
    return {"reaped": get_store().recordings.reap_notification(event)}
