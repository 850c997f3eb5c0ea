"""The local stack over HTTP: the product as a developer runs it with ``make dev``."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from chalicelib.lifecycle import bucket_rules
from infra.settings import StackSettings
from local.resources import Names
from ops import rebuild
from tests.support import authz, rrweb_stream
from tests.support.accounts import sign_up_and_in
from tests.support.local_stack import RunningStack, start_stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# Compaction as on AWS, only sooner: a recording idle this long is compacted by the
# stack's own schedule, which runs this often (each run queries every index shard, so
# not every second on a small machine).
IDLE_SECONDS = 6
COMPACT_EVERY_SECONDS = 2


@pytest.fixture(scope="module")
def stack(data_dir: Path) -> Iterator[RunningStack]:
    running = start_stack(
        data_dir, "--compact-idle-seconds", str(IDLE_SECONDS), "--compact-every-seconds", str(COMPACT_EVERY_SECONDS)
    )
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


def read_all(http: requests.Session, api: str, recording_id: str, *, accept_gzip: bool) -> list[Any]:
    events: list[Any] = []
    cursor = None
    while True:
        response = http.get(
            f"{api}/recordings/{recording_id}/events",
            params={"after": cursor} if cursor else None,
            # gzip only with the binary type first in Accept (API Gateway's rule).
            headers={"Accept": "application/x-ndjson", "Accept-Encoding": "gzip" if accept_gzip else "identity"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.headers.get("Content-Encoding") == ("gzip" if accept_gzip else None)
        events += [json.loads(line) for line in response.content.splitlines()]  # requests inflates gzip
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return events


def wait_for_events(http: requests.Session, api: str, recording_id: str, count: int) -> list[Any]:
    """The consumer is asynchronous (as Lambda on the stream is): poll until every event is readable."""
    events: list[Any] = []

    def all_readable() -> bool:
        events[:] = read_all(http, api, recording_id, accept_gzip=True)
        assert len(events) >= count, f"{len(events)} of {count} events readable"
        return True

    eventually(all_readable, 60, interval=0.25)
    return events


def post_batches(http: requests.Session, api: str, recording_id: str, batches: list[list[Any]], start: int = 0) -> None:
    for seq, events in enumerate(batches, start=start):
        response = http.post(f"{api}/recordings/{recording_id}/events", json={"seq": seq, "events": events}, timeout=30)
        assert response.status_code == 202, response.text


def test_a_posted_batch_is_readable_within_seconds(stack: RunningStack, http: requests.Session) -> None:
    http.headers.update(sign_up_and_in(stack.api, http)[1])
    recording_id = http.post(f"{stack.api}/recordings", json={}, timeout=30).json()["recording"]["id"]
    events = [{"type": 4, "timestamp": 1, "data": {"href": "https://example.com/"}}]
    posted = time.monotonic()
    post_batches(http, stack.api, recording_id, [events])
    assert wait_for_events(http, stack.api, recording_id, 1) == events
    # Lambda polls each shard once a second and waits the batching window (1 s):
    # seconds, where Firehose's dynamic partitioning took a minute or more.
    assert time.monotonic() - posted < 10


def test_a_long_first_page_a_session_a_screenshot_and_any_accept_over_http(
    stack: RunningStack, http: requests.Session
) -> None:
    from tests.functional.test_large_batches import full_snapshot

    http.headers.update(sign_up_and_in(stack.api, http)[1])
    key = http.post(f"{stack.api}/keys", json={"purpose": "demo"}, timeout=30).json()["key"]
    snapshot = full_snapshot(7_000_000)
    first = {"id": "http-session-1", "url": "https://a.test/", "title": "A", "view": 1, "seq": 0, "events": [snapshot]}
    body = gzip.compress(json.dumps(first).encode(), compresslevel=6)
    assert len(body) < 1024 * 1024  # ~600 KB on the wire, ~7 MB inflated
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
    created = requests.post(
        f"{stack.api}/recordings?ingestKey={key}",
        data=body,
        headers={"Content-Type": "text/plain", "User-Agent": firefox},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    again = {"id": "http-session-1", "url": "https://a.test/2", "title": "B", "view": 2}
    assert requests.post(f"{stack.api}/recordings?ingestKey={key}", json=again, timeout=30).status_code == 200
    form = created.json()["screenshotUpload"]
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 64 + b"\xff\xd9"
    uploaded = requests.post(form["url"], data=form["fields"], files={"file": ("s.jpg", jpeg)}, timeout=30)
    assert uploaded.status_code == 204, uploaded.text
    # The bucket's notification reaches the reaper within a poll or two.

    def with_screenshot() -> dict[str, Any]:
        recording = http.get(f"{stack.api}/recordings/http-session-1", timeout=30).json()
        assert recording["screenshotUrl"], "the screenshot's notification never reached the recording"
        return recording

    recording = eventually(with_screenshot, interval=0.2)
    assert requests.get(recording["screenshotUrl"], timeout=30).content == jpeg
    assert (recording["browser"], recording["os"], recording["device"]) == ("Firefox", "Linux", "desktop")
    assert [page["url"] for page in recording["pages"]] == ["https://a.test/", "https://a.test/2"]
    assert wait_for_events(http, stack.api, "http-session-1", 1) == [snapshot]
    # Any Accept gets JSON lines: gzip only with the binary type first.
    path = f"{stack.api}/recordings/http-session-1/events"
    small = http.post(f"{stack.api}/recordings", json={"seq": 0, "events": [{"type": 4, "timestamp": 1}]}, timeout=30)
    small_path = f"{stack.api}/recordings/{small.json()['recording']['id']}/events"
    wait_for_events(http, stack.api, small.json()["recording"]["id"], 1)
    for accept in (None, "*/*", "application/json", "text/html,*/*;q=0.8"):
        plain = http.get(small_path, headers={"Accept": accept} if accept else {}, timeout=30)
        assert plain.status_code == 200, plain.text
        assert plain.headers["Content-Type"] == "application/jsonl; charset=utf-8"
        assert "Content-Encoding" not in plain.headers
        assert [json.loads(line) for line in plain.content.splitlines()] == [{"type": 4, "timestamp": 1}]
    too_big = http.get(path, headers={"Accept": "*/*"}, timeout=30)
    assert (too_big.status_code, too_big.json()["error"]["code"]) == (406, "gzip_required")


def test_an_idle_recording_is_compacted_on_schedule_and_reads_back_identically(
    stack: RunningStack, http: requests.Session
) -> None:
    http.headers.update(sign_up_and_in(stack.api, http)[1])
    recording_id = http.post(f"{stack.api}/recordings", json={}, timeout=30).json()["recording"]["id"]
    stream = rrweb_stream.session(sections=3, incremental=120)
    post_batches(http, stack.api, recording_id, rrweb_stream.batches(stream, 6))
    assert wait_for_events(http, stack.api, recording_id, len(stream)) == stream

    def compacted() -> dict[str, Any]:
        response = http.get(f"{stack.api}/recordings/{recording_id}/blocks", timeout=30)
        assert response.status_code == 200, response.text
        blocks = response.json()
        assert blocks["blocks"], "the schedule did not compact an idle recording"
        return blocks

    blocks = eventually(compacted, IDLE_SECONDS + 60, interval=1)
    assert (blocks["events"], blocks["next"]) == (len(stream), None)  # a few blocks: one answer
    assert read_all(http, stack.api, recording_id, accept_gzip=True) == stream
    assert read_all(http, stack.api, recording_id, accept_gzip=False) == stream

    # The replay page fetches the blocks from the embedded AWS by range, from the site.
    fetched: list[Any] = []
    for block in blocks["blocks"]:
        got = requests.get(blocks["url"], headers={"Origin": stack.site, "Range": block["range"]}, timeout=30)
        assert got.status_code == 206, got.text
        assert got.headers["Access-Control-Allow-Origin"] == stack.site
        assert "Content-Range" in got.headers["Access-Control-Expose-Headers"]
        fetched += [json.loads(line) for line in zlib.decompress(got.content, wbits=31).splitlines()]
    assert fetched == stream
    elsewhere = requests.get(
        blocks["url"], headers={"Origin": "https://elsewhere.example", "Range": "bytes=0-9"}, timeout=30
    )
    assert elsewhere.status_code == 403
    assert "Access-Control-Allow-Origin" not in elsewhere.headers


def test_record_read_list_delete_over_http(stack: RunningStack, http: requests.Session) -> None:
    api = stack.api
    http.headers.update(sign_up_and_in(api, http)[1])
    created = http.post(f"{api}/recordings", json={"url": "https://docs.example.com/", "title": "Docs"}, timeout=30)
    assert created.status_code == 201, created.text
    recording_id = created.json()["recording"]["id"]

    stream = rrweb_stream.session(sections=20, incremental=1500)
    batches = rrweb_stream.batches(stream, 60)
    for seq, events in enumerate(batches):
        body = json.dumps({"seq": seq, "events": events}).encode()
        if seq % 2:
            response = http.post(
                f"{api}/recordings/{recording_id}/events",
                data=gzip.compress(body),
                headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
                timeout=30,
            )
        else:
            response = http.post(
                f"{api}/recordings/{recording_id}/events",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
        assert response.status_code == 202, response.text
    repeat = http.post(f"{api}/recordings/{recording_id}/events", json={"seq": 3, "events": batches[3]}, timeout=30)
    assert repeat.status_code == 202  # a retry: on the stream again, read back once

    assert wait_for_events(http, api, recording_id, len(stream)) == stream
    assert read_all(http, api, recording_id, accept_gzip=False) == stream

    listed = http.get(f"{api}/recordings", timeout=30).json()["recordings"]
    assert [r["id"] for r in listed] == [recording_id]
    # The repeat is counted again if another invocation took it, until compaction.
    assert listed[0]["eventCount"] in (len(stream), len(stream) + len(batches[3]))

    bad = http.post(
        f"{api}/recordings/{recording_id}/events",
        data=b"{oops",
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_json"

    assert http.delete(f"{api}/recordings/{recording_id}", timeout=30).status_code == 204
    gone = http.get(f"{api}/recordings/{recording_id}", timeout=30)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert http.get(f"{api}/recordings/{recording_id}/events", timeout=30).status_code == 404


def test_recordings_survive_a_restart_go_on_after_it_and_rebuild_from_the_archive(
    tmp_path: Path, http: requests.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    stack = start_stack(data_dir)
    api = stack.api
    # The owner id is the user's Cognito sub: it must survive the restart with the user.
    http.headers.update(sign_up_and_in(api, http)[1])
    recording_id = http.post(f"{api}/recordings", json={"id": "survives-restart"}, timeout=30).json()["recording"]["id"]
    events = [{"type": 4, "timestamp": 1, "data": {}}, {"type": 3, "timestamp": 2, "data": {"source": 3}}]
    # Posted right before stopping: the stop must deliver it before saving.
    assert http.post(f"{api}/recordings/{recording_id}/events", json={"seq": 0, "events": events}, timeout=30).ok
    stack.stop()

    again = start_stack(data_dir)
    try:
        # The token issued before the restart still verifies: same pool, same signing key.
        listed = http.get(f"{again.api}/recordings", timeout=30)
        assert listed.status_code == 200, listed.text
        assert recording_id in [r["id"] for r in listed.json()["recordings"]]
        assert read_all(http, again.api, recording_id, accept_gzip=True) == events
        # The recording goes on after the restart. The stream is a new one whose record
        # numbers start over: the new batch's object must not replace the old one's.
        later = [{"type": 3, "timestamp": 3, "data": {"source": 2}}]
        post_batches(http, again.api, recording_id, [later], start=1)
        assert wait_for_events(http, again.api, recording_id, len(events + later)) == events + later

        # Its objects lost, ``make rebuild --local`` restores it from the archive, which
        # holds both batches: the one archived before the restart and the one after.
        s3, bucket = stack_s3(again, data_dir), Names.for_stack("local").bucket

        def both_archived() -> None:
            assert len(archived_lines(s3, bucket, recording_id)) >= 2, "the archive never got both batches"

        eventually(both_archived)
        # The deployed stack's lifecycle rules, which the stack applies itself (local/lifecycle.py).
        defaults = StackSettings(stack="local")
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        deployed = bucket_rules(
            retention_days=defaults.retention_days, archive_retention_days=defaults.archive_retention_days
        )
        assert [(r["ID"], r.get("Expiration")) for r in rules] == [(r["ID"], r.get("Expiration")) for r in deployed]
        prefix = f"recordings/owner={owner_id(http)}/recording={recording_id}/events/"
        lost = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in lost]})
        assert read_all(http, again.api, recording_id, accept_gzip=True) == []
        status = rebuild.main(
            [
                "--local",
                "--data-dir",
                str(data_dir),
                "--aws-port",
                again.aws.rsplit(":", 1)[1],
                f"--recording={recording_id}",  # an id may start with "-"
                "--owner",
                owner_id(http),
            ]
        )
        report = json.loads(capsys.readouterr().out)
        assert status == 0, report
        assert (report["target"]["endpoint"], report["wrote"]["recordings"]) == (again.aws, [recording_id])
        assert read_all(http, again.api, recording_id, accept_gzip=True) == events + later
    finally:
        again.stop()


def stack_s3(stack: RunningStack, data_dir: Path) -> Any:
    """An S3 client signing as the stack does (its saved credentials)."""
    saved = json.loads((data_dir / "aws-credentials.json").read_text())
    return boto3.client(
        "s3",
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id=saved["accessKeyId"],
        aws_secret_access_key=saved["secretAccessKey"],
    )


def archived_lines(s3: Any, bucket: str, recording_id: str) -> list[bytes]:
    """The archive's records of one recording."""
    lines = []
    for entry in s3.list_objects_v2(Bucket=bucket, Prefix="archive/").get("Contents", []):
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
        lines += [line for line in body.splitlines() if json.loads(line)["recording"] == recording_id]
    return lines


def owner_id(http: requests.Session) -> str:
    """The signed-in user's owner id: the ``sub`` of their access token."""
    authorization = http.headers["Authorization"]
    assert isinstance(authorization, str)  # set by sign-in as text
    payload = authorization.split(" ", 1)[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def http_caller(api: str) -> authz.Call:
    session = requests.Session()

    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        sent = {**({"Content-Type": "application/json"} if body else {}), **headers}
        response = session.request(method, f"{api}{path}", headers=sent, data=body or None, timeout=30)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    return call


def test_authorization_matrix_over_http_with_real_moto_tokens(
    stack: RunningStack, data_dir: Path, http: requests.Session
) -> None:
    import os

    import boto3

    _, owner = sign_up_and_in(stack.api, http)
    _, other = sign_up_and_in(stack.api, http)
    # The embedded AWS takes the stack's own signature only (the data folder's credentials).
    saved = json.loads((data_dir / "aws-credentials.json").read_text())
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id=saved["accessKeyId"],
        aws_secret_access_key=saved["secretAccessKey"],
    )
    (pool,) = [p["Id"] for p in cognito.list_user_pools(MaxResults=10)["UserPools"]]
    other_client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="not-the-site", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    email, _ = sign_up_and_in(stack.api, http)
    wrong = cognito.initiate_auth(
        ClientId=other_client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": "Smoke-Test-Pass-42"},
    )["AuthenticationResult"]["AccessToken"]
    del os
    token = owner["Authorization"].split(" ", 1)[1]
    call = http_caller(stack.api)
    credentials = authz.build_credentials(
        owner_token=token, other_token=other["Authorization"].split(" ", 1)[1], wrong_client_token=wrong, call=call
    )
    got = {credential: authz.run_row(credential, credentials, token, call) for credential in authz.EXPECTED}
    assert got == authz.EXPECTED

    # Roles in a team workspace: members joined through invites, one removed again.
    users = {}
    for name in ("member", "outsider", "removed"):
        joined_email, joined = sign_up_and_in(stack.api, http)
        users[name] = (joined["Authorization"].split(" ", 1)[1], joined_email)
    team = authz.build_team(call, admin_token=token, users=users)
    got = {credential: authz.run_team_row(credential, team, call) for credential in authz.TEAM_EXPECTED}
    assert got == authz.TEAM_EXPECTED


def test_ingest_keys_in_query_strings_never_reach_the_log(stack: RunningStack, http: requests.Session) -> None:
    _, owner = sign_up_and_in(stack.api, http)
    key = http.post(f"{stack.api}/keys", json={}, headers=owner, timeout=30).json()["key"]
    created = http.post(
        f"{stack.api}/recordings?ingestKey={key}", data=b"{}", headers={"Content-Type": "text/plain"}, timeout=30
    )
    assert created.status_code == 201
    time.sleep(0.5)
    log = stack.log.read_text()
    assert "ingestKey=[redacted]" in log
    assert key not in log
    assert key.split("_", 2)[2] not in log  # the secret (base64url: may itself hold "_")
