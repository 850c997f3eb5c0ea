"""The local stack's embedded AWS listens to the stack alone, and its API's HTTP errors are JSON."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from local.resources import Names
from tests.support.accounts import sign_up_and_in
from tests.support.local_stack import RunningStack, start_stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PAGE = {"Origin": "https://a-page-the-developer-visits.example"}
JPEG = b"\xff\xd8\xff\xe0" + b"thumbnail" * 100


def no_cors(response: requests.Response) -> bool:
    return not [name for name in response.headers if name.lower().startswith("access-control-")]


def stack_s3(stack: RunningStack, data_dir: Path) -> Any:
    saved = json.loads((data_dir / "aws-credentials.json").read_text())
    return boto3.client(
        "s3",
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id=saved["accessKeyId"],
        aws_secret_access_key=saved["secretAccessKey"],
    )


def test_the_aws_secret_is_random_private_and_never_logged(stack: RunningStack, data_dir: Path) -> None:
    path = data_dir / "aws-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = json.loads(path.read_text())["secretAccessKey"]
    assert len(secret) >= 32
    assert secret != "local"
    for log in (stack.log, data_dir / "moto.log"):
        assert secret not in log.read_text()


def test_browser_origins_cannot_reach_moto(stack: RunningStack) -> None:
    bucket = Names.for_stack("local").bucket
    attempts = [
        # Unsigned, without an Origin: what <img> or a no-cors fetch sends.
        requests.get(f"{stack.aws}/", timeout=10),
        requests.get(f"{stack.aws}/moto-api/recorder/start-recording", timeout=10),
        requests.get(f"{stack.aws}/{bucket}", headers=PAGE, timeout=10),
        requests.post(
            f"{stack.aws}/",
            data=json.dumps({"TableName": "rrweb-s3-storage-local-recordings"}),
            headers={**PAGE, "X-Amz-Target": "DynamoDB_20120810.Scan", "Content-Type": "application/x-amz-json-1.0"},
            timeout=10,
        ),
        requests.options(f"{stack.aws}/{bucket}", headers={**PAGE, "Access-Control-Request-Method": "GET"}, timeout=10),
        requests.options(
            f"{stack.aws}/",
            headers={**PAGE, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-amz-target"},
            timeout=10,
        ),
        requests.delete(f"{stack.aws}/{bucket}/anything", headers=PAGE, timeout=10),
        # DNS rebinding: the page's own host name, resolved to loopback.
        requests.get(f"{stack.aws}/{bucket}", headers={"Host": "rebind.example:80"}, timeout=10),
    ]
    for response in attempts:
        assert response.status_code == 403, (response.request.method, response.request.url, response.text)
        assert no_cors(response), response.headers
        assert "error" in response.json()


def test_presigned_uploads_are_held_to_their_policy(stack: RunningStack, data_dir: Path) -> None:
    with requests.Session() as http:
        _, owner = sign_up_and_in(stack.api, http)
        created = http.post(f"{stack.api}/recordings", json={}, headers=owner, timeout=30).json()
    upload, recording_id = created["screenshotUpload"], created["recording"]["id"]
    url, fields = upload["url"], upload["fields"]
    assert urlsplit(url).netloc == urlsplit(stack.aws).netloc
    s3 = stack_s3(stack, data_dir)
    bucket = urlsplit(url).path.strip("/")

    def post(form: dict[str, str], body: bytes, content_type: str = "image/jpeg") -> requests.Response:
        return requests.post(
            url, data=form, files={"file": ("screenshot.jpg", body, content_type)}, headers=PAGE, timeout=60
        )

    other_key = fields["key"].replace(recording_id, "someone-elses-recording")
    forged = {**fields}
    forged["policy"] = boto3.client(
        "s3",
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # what the stack used to sign with, for anyone to copy
    ).generate_presigned_post(
        Bucket=bucket, Key=fields["key"], Fields={"Content-Type": "text/html"}
    )["fields"]["policy"]
    refusals = {
        "100 MB": post(fields, b"\0" * (100 * 1024 * 1024)),
        "text/html": post({**fields, "Content-Type": "text/html"}, b"<script>alert(1)</script>", "text/html"),
        "another key": post({**fields, "key": other_key}, JPEG),
        "forged policy": post(forged, JPEG),
        "an extra field": post({**fields, "acl": "public-read"}, JPEG),
    }
    for what, response in refusals.items():
        assert response.status_code in (400, 403), (what, response.status_code, response.text)
        assert "<Error><Code>" in response.text, what
        assert no_cors(response), what
    for key in (fields["key"], other_key):
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket=bucket, Key=key)

    stored = post(fields, JPEG)
    assert stored.status_code == 204, stored.text
    assert stored.headers["Access-Control-Allow-Origin"] == "*"
    got = s3.get_object(Bucket=bucket, Key=fields["key"])
    assert (got["Body"].read(), got["ContentType"]) == (JPEG, "image/jpeg")
    # The site shows it through the presigned GET URL (an <img>, which sends no Origin).
    # The API learns of the screenshot from S3's object-created notification (as on AWS).

    def screenshot_link() -> str:
        link = requests.get(f"{stack.api}/recordings/{recording_id}", headers=owner, timeout=30).json()["screenshotUrl"]
        assert link is not None, "the screenshot's notification never reached the recording"
        return link

    link = eventually(screenshot_link, interval=0.25)
    shown = requests.get(link, timeout=30)
    assert shown.content == JPEG
    # A link to another key with the same signature is not one the stack signed.
    forged_link = requests.get(link.replace(recording_id, "someone-elses-recording"), timeout=30)
    assert forged_link.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in forged_link.text


def raw_request(api: str, request: bytes) -> tuple[int, dict[str, Any]]:
    host, port = urlsplit(api).hostname, urlsplit(api).port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_http_layer_errors_are_api_json_and_logged(stack: RunningStack) -> None:
    brew = requests.request("BREW", f"{stack.api}/recordings", timeout=30)
    assert brew.status_code == 405
    assert brew.json()["error"]["code"] == "method_not_allowed"
    long_url = requests.get(f"{stack.api}/recordings?ingestKey=rrk_x_secret&pad={'a' * 70_000}", timeout=30)
    assert long_url.status_code == 414
    assert long_url.json()["error"]["code"] == "uri_too_long"
    status, body = raw_request(stack.api, b"NONSENSE\r\n\r\n")
    assert (status, body["error"]["code"]) == (400, "bad_request")
    # The server is still up and answering after all of that.
    assert requests.get(f"{stack.api}/health", timeout=30).status_code == 200
    log = stack.log.read_text()
    assert "code 405" in log
    assert "code 414" in log


def _moto_of(stack: RunningStack) -> int:
    """The pid of the stack's embedded AWS (its child running local.aws_server)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == stack.process.pid and b"local.aws_server" in command:
            return int(entry.name)
    raise AssertionError("the stack runs no embedded AWS")


def test_health_reports_the_embedded_aws_dying(tmp_path: Path) -> None:
    running = start_stack(tmp_path / "data")
    try:
        assert requests.get(f"{running.api}/health", timeout=30).status_code == 200
        os.kill(_moto_of(running), signal.SIGKILL)

        answers: list[requests.Response] = []

        def unhealthy() -> None:
            answers.append(requests.get(f"{running.api}/health", timeout=30))
            assert answers[-1].status_code == 503, answers[-1].text

        eventually(unhealthy, interval=0.2)
        health = answers[-1]
        assert health.json()["error"]["code"] == "unavailable"
        assert "embedded AWS" in health.json()["error"]["message"]
        assert int(health.headers["Retry-After"]) >= 1
        # It stays so (not a moment's blip), and the log says what happened and what to do.
        time.sleep(1.5)
        assert requests.get(f"{running.api}/health", timeout=30).status_code == 503
        log = running.log.read_text()
        assert "the embedded AWS (moto) exited" in log
        assert "start it again" in log
    finally:
        running.process.send_signal(signal.SIGINT)
        code = running.process.wait(timeout=180)
    # A supervisor sees the failure in the exit status.
    assert code != 0


def test_only_the_stacks_own_signature_reaches_moto(stack: RunningStack, data_dir: Path) -> None:
    from botocore.exceptions import ClientError

    saved = json.loads((data_dir / "aws-credentials.json").read_text())
    assert saved["accessKeyId"] != "local"
    assert len(saved["accessKeyId"]) == 20
    names = Names.for_stack("local")
    calls = {
        "s3": lambda c: c.list_objects_v2(Bucket=names.bucket),
        "dynamodb": lambda c: c.scan(TableName=names.access_table),
        "cognito-idp": lambda c: c.list_user_pools(MaxResults=10),
    }
    for service, call in calls.items():
        forged = boto3.client(
            service,
            endpoint_url=stack.aws,
            region_name="us-east-1",
            aws_access_key_id=saved["accessKeyId"],
            aws_secret_access_key="a-guess-at-the-stacks-secret-0123456789abc",
        )
        with pytest.raises(ClientError) as caught:
            call(forged)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, (service, caught.value.response)
        signed = boto3.client(
            service,
            endpoint_url=stack.aws,
            region_name="us-east-1",
            aws_access_key_id=saved["accessKeyId"],
            aws_secret_access_key=saved["secretAccessKey"],
        )
        assert call(signed)["ResponseMetadata"]["HTTPStatusCode"] == 200, service
