"""The guard in front of the embedded AWS: who may talk to it, what browsers may read, and journal replay.

moto's WSGI app runs in this process behind the guard, served on a free loopback port,
so boto3 talks to it as the stack does.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib import records
from chalicelib.consumer import FailureQueue, StreamConsumer, StreamRecord
from chalicelib.recording_table import RecordingTable
from local.aws_server import CONTROL_HEADER, Guard
from local.event_source import KinesisEventSource
from local.journal import Journal
from local.resources import Names, provision

NAMES = Names.for_stack("guard")
SECRET = "guard-test-secret-0123456789abcdefghijkl"
TOKEN = "control-token-for-tests"
SITE = "http://127.0.0.1:8080"


@dataclass
class Served:
    url: str
    port: int
    guard: Guard
    session: Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(data: Path, port: int) -> tuple[Guard, Any]:
    guard = Guard(
        DomainDispatcherApplication(create_backend_app),
        host="127.0.0.1",
        port=port,
        access_key="local",
        secret_key=SECRET,
        control_token=TOKEN,
        journal=Journal(data / "journal"),
        cognito_file=data / "cognito.pickle",
        allowed_origins=[SITE, "http://localhost:8080/"],
    )
    server = make_server("127.0.0.1", port, guard, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return guard, server


def reset(url: str) -> None:
    """Forget moto's state (in this process: its reset route is closed to HTTP callers)."""
    del url
    moto_api_backend.reset()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = _free_port()
    guard, server = serve(tmp_path, port)
    url = f"http://127.0.0.1:{port}"
    reset(url)
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key=SECRET, region_name="us-east-1")
    try:
        yield Served(url=url, port=port, guard=guard, session=session)
    finally:
        reset(url)
        server.shutdown()
        guard.journal.close()


def client(served: Served, service: str) -> Any:
    return served.session.client(service, endpoint_url=served.url, config=Config(signature_version="s3v4"))


def control(served: Served, action: str) -> requests.Response:
    return requests.post(f"{served.url}/_rrweb/journal/{action}", headers={CONTROL_HEADER: TOKEN}, timeout=30)


def test_a_foreign_host_name_is_refused(served: Served) -> None:
    # DNS rebinding: a page's own name resolving to 127.0.0.1 still says so in Host.
    response = requests.get(f"{served.url}/", headers={"Host": f"attacker.example:{served.port}"}, timeout=10)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_host"


def test_browser_origins_are_refused_without_cors_headers(served: Served) -> None:
    provision(_endpoint_session(served), NAMES)
    origin = {"Origin": "https://some-page.example"}
    for method, path, headers in (
        ("GET", f"/{NAMES.bucket}", {}),
        ("POST", "/", {"X-Amz-Target": "DynamoDB_20120810.Scan", "Content-Type": "application/x-amz-json-1.0"}),
        ("OPTIONS", f"/{NAMES.bucket}", {"Access-Control-Request-Method": "GET"}),
        ("OPTIONS", "/", {"Access-Control-Request-Method": "POST"}),
    ):
        response = requests.request(method, served.url + path, headers={**origin, **headers}, data=b"{}", timeout=10)
        assert response.status_code == 403, (method, path)
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], (method, path)
    # The same listing signed by the stack's own clients works, and carries no CORS either.
    listed = client(served, "s3").list_objects_v2(Bucket=NAMES.bucket)["ResponseMetadata"]
    assert listed["HTTPStatusCode"] == 200
    assert "access-control-allow-origin" not in listed["HTTPHeaders"]
    preflight = requests.options(
        f"{served.url}/{NAMES.bucket}", headers={**origin, "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/moto-api/recorder/start-recording", {}),  # turns on moto's request recorder
        ("GET", "/moto-api/recorder/replay-recording", {}),
        ("GET", "/moto-api/data.json", {}),
        ("POST", "/moto-api/reset", {}),
        ("GET", f"/{NAMES.bucket}", {}),  # an unsigned listing
        ("POST", "/", {"Content-Type": "text/plain"}),  # a simple POST a page may send
        ("DELETE", f"/{NAMES.bucket}/recordings/x", {}),
        ("GET", "/moto-api/recorder/start-recording", {"Authorization": "AWS4-HMAC-SHA256 Credential=x"}),
    ],
)
def test_requests_a_page_can_make_without_an_origin_are_refused(
    served: Served, method: str, path: str, headers: dict[str, str]
) -> None:
    # <img>, <script> and no-cors fetches send no Origin and no custom header.
    browser = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", **headers}
    response = requests.request(method, served.url + path, headers=browser, timeout=10)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "unsigned"


def test_what_the_stack_itself_asks_unsigned_is_served(served: Served) -> None:
    provision(_endpoint_session(served), NAMES)
    assert requests.get(f"{served.url}/moto-api/", timeout=10).status_code == 200  # the health check
    s3 = client(served, "s3")
    s3.put_object(Bucket=NAMES.bucket, Key="recordings/o/shot.jpg", Body=b"jpeg")
    link = s3.generate_presigned_url("get_object", Params={"Bucket": NAMES.bucket, "Key": "recordings/o/shot.jpg"})
    assert requests.get(link, timeout=10).content == b"jpeg"  # a presigned link, as an <img> loads it


def test_control_endpoints_need_the_token(served: Served) -> None:
    assert requests.post(f"{served.url}/_rrweb/journal/rotate", timeout=10).status_code == 403
    forged = requests.post(f"{served.url}/_rrweb/journal/rotate", headers={CONTROL_HEADER: "guess"}, timeout=10)
    assert forged.status_code == 403


def _endpoint_session(served: Served) -> Any:
    class WithEndpoint:
        def client(self, service: str, **kwargs: Any) -> Any:
            return client(served, service)

    return WithEndpoint()


def test_acknowledged_writes_come_back_after_a_restart_and_repeats_read_once(served: Served) -> None:
    session = _endpoint_session(served)
    provision(session, NAMES)
    assert control(served, "replay").json()["segment"] == 1  # nothing to replay; journaling starts
    s3, dynamodb, kinesis = client(served, "s3"), client(served, "dynamodb"), client(served, "kinesis")
    s3.put_object(Bucket=NAMES.bucket, Key="recordings/a/chunk.gz", Body=b"chunk")
    # What the API writes, as it writes it: the recording (a conditional create), then a
    # last batch in the stream and the recording marked ended (a conditional update).
    table = _table(served)
    assert table.put_new({"owner": "o", "recordingId": "r", "createdKey": "0000000000001#r"})
    payload = gzip.compress(json.dumps({"seq": 0, "events": [{"type": 4}, {"type": 2}]}).encode())
    lines = records.build_records(owner="o", recording="r", seq=0, payload=payload, received=1, events=2)
    stream_arn = kinesis.describe_stream(StreamName=NAMES.stream)["StreamDescription"]["StreamARN"]
    kinesis.put_records(StreamARN=stream_arn, Records=[{"Data": line, "PartitionKey": "r"} for line in lines])
    table.mark_ended("o", "r")
    # A refused conditional write is not journaled.
    assert not table.put_new({"owner": "o", "recordingId": "r"})
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(
            TableName=NAMES.table,
            Item={**_key("rec#o#r"), "owner": {"S": "o"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert len(list(served.guard.journal.entries(served.guard.journal.segments()))) == 4

    # A hard kill: moto's memory is gone, the journal is not. A new process provisions and replays.
    served.guard.journal.close()
    reset(served.url)
    port = _free_port()
    guard, server = serve(served.guard.journal.directory.parent, port)
    again = Served(url=f"http://127.0.0.1:{port}", port=port, guard=guard, session=served.session)
    try:
        provision(_endpoint_session(again), NAMES)
        replayed = control(again, "replay").json()
        assert replayed == {"entries": 4, "applied": 4, "segment": 2}
        s3, dynamodb = client(again, "s3"), client(again, "dynamodb")
        assert s3.get_object(Bucket=NAMES.bucket, Key="recordings/a/chunk.gz")["Body"].read() == b"chunk"
        table = _table(again)
        item = table.get("o", "r")
        assert item is not None
        assert (item["owner"], item["recordingId"], item["createdKey"]) == ("o", "r", "0000000000001#r")
        assert "eventCount" not in item  # the consumer counts; it has not run yet
        assert "endedAt" in item  # the conditional update came back too

        # The stream records came back too: the consumer stores and counts them.
        consumer = _consumer(again)
        assert consumer.poll(flush=True) == len(lines)
        counted = dynamodb.get_item(TableName=NAMES.table, Key=_key("rec#o#r"))["Item"]
        assert (counted["eventCount"], counted["batchCount"]) == ({"N": "2"}, {"N": "1"})
        assert "countedThrough" in counted

        # Replayed again over a state that holds it (a snapshot newer than the segments):
        # the conditional writes refuse (the counted item is not overwritten by its
        # create), the object is overwritten, the record is sent twice.
        for entry in guard.journal.entries([1]):
            guard.reapply(entry)
        assert dynamodb.get_item(TableName=NAMES.table, Key=_key("rec#o#r"))["Item"] == counted
        assert consumer.poll(flush=True) == len(lines)
        chunks = [
            s3.get_object(Bucket=NAMES.bucket, Key=entry["Key"])["Body"].read()
            for entry in s3.list_objects_v2(Bucket=NAMES.bucket, Prefix="recordings/owner=o/")["Contents"]
        ]
        assert len(chunks) == 2  # the record was delivered twice...
        parts = [part for chunk in chunks for part in records.parse_object(gzip.decompress(chunk))]
        whole = records.assemble(parts)
        assert list(whole) == [0]  # ...and reads back once
        assert [json.loads(event) for event in records.payload_events(whole[0])] == [{"type": 4}, {"type": 2}]
    finally:
        server.shutdown()
        guard.journal.close()


def test_a_verified_upload_is_stored_and_journaled_with_cors(served: Served) -> None:
    provision(_endpoint_session(served), NAMES)
    control(served, "replay")
    post = client(served, "s3").generate_presigned_post(
        Bucket=NAMES.bucket,
        Key="shot.jpg",
        Fields={"Content-Type": "image/jpeg"},
        Conditions=[{"Content-Type": "image/jpeg"}, ["content-length-range", 1, 100]],
        ExpiresIn=60,
    )
    origin = {"Origin": "https://any-page.example"}
    files = {"file": ("shot.jpg", b"\xff\xd8ok", "image/jpeg")}
    too_big = requests.post(
        post["url"], data=post["fields"], files={"file": ("a", b"x" * 101)}, headers=origin, timeout=10
    )
    assert too_big.status_code == 403
    assert "<Code>AccessDenied</Code>" in too_big.text
    assert "Access-Control-Allow-Origin" not in too_big.headers
    stored = requests.post(post["url"], data=post["fields"], files=files, headers=origin, timeout=10)
    assert stored.status_code == 204, stored.text
    assert stored.headers["Access-Control-Allow-Origin"] == "*"
    got = client(served, "s3").get_object(Bucket=NAMES.bucket, Key="shot.jpg")
    assert (got["Body"].read(), got["ContentType"]) == (b"\xff\xd8ok", "image/jpeg")
    (entry,) = served.guard.journal.entries(served.guard.journal.segments())
    assert entry.meta["method"] == "POST"
    assert "HTTP_ORIGIN" not in entry.meta["headers"]
    assert b"\xff\xd8ok" in entry.body


def _key(pk: str) -> dict[str, dict[str, str]]:
    """A key of the recordings table, as the low-level client takes it (``pk`` alone)."""
    return {"pk": {"S": pk}}


def _table(served: Served) -> RecordingTable:
    """The API's recordings table, through the guard."""
    dynamodb = served.session.resource("dynamodb", endpoint_url=served.url)
    return RecordingTable(table=dynamodb.Table(NAMES.table))


def _consumer(served: Served) -> KinesisEventSource:
    """The stream consumer, through the guard, behind the local event source mapping."""
    consumer = StreamConsumer(
        s3=client(served, "s3"),
        bucket=NAMES.bucket,
        table=_table(served),
        failures=FailureQueue(sqs=None, queue_url=None),
        workers=1,
    )
    kinesis = client(served, "kinesis")
    return KinesisEventSource(
        kinesis=kinesis,
        stream_arn=kinesis.describe_stream_summary(StreamName=NAMES.stream)["StreamDescriptionSummary"]["StreamARN"],
        handler=lambda event: consumer.consume(StreamRecord.from_lambda(r) for r in event["Records"]).response(),
        on_failure=lambda message: pytest.fail(f"gave up: {message}"),
    )


BLOCK_KEY = "recordings/owner=o/recording=r/events/compacted-00000001-abc.jsonl.gz"
BLOCKS = bytes(range(256)) * 4


def _cors(response: requests.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items() if name.lower().startswith("access-")}


def _block_url(served: Served, key: str = BLOCK_KEY, **params: Any) -> str:
    s3 = client(served, "s3")
    s3.put_object(Bucket=NAMES.bucket, Key=key, Body=BLOCKS)
    return s3.generate_presigned_url("get_object", Params={"Bucket": NAMES.bucket, "Key": key}, **params)


def test_the_site_reads_a_block_by_range_with_the_cors_headers_s3_sends(served: Served) -> None:
    provision(_endpoint_session(served), NAMES)
    url = _block_url(served)
    preflight = requests.options(
        url,
        headers={"Origin": SITE, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"},
        timeout=10,
    )
    assert preflight.status_code == 200
    assert _cors(preflight) == {
        "access-control-allow-origin": SITE,
        "access-control-allow-methods": "GET, HEAD",
        "access-control-allow-headers": "Range",
        "access-control-max-age": "600",
    }
    assert "Origin" in preflight.headers["Vary"]

    block = requests.get(url, headers={"Origin": SITE, "Range": "bytes=256-511"}, timeout=10)
    assert block.status_code == 206
    assert block.content == BLOCKS[256:512]
    assert block.headers["Content-Range"] == f"bytes 256-511/{len(BLOCKS)}"
    assert _cors(block) == {
        "access-control-allow-origin": SITE,
        "access-control-expose-headers": "Content-Range, Content-Length, ETag",
    }
    assert block.headers["Vary"] == "Origin"
    # The other loopback name of the site (listed with a trailing slash) is the site too.
    other = requests.get(url, headers={"Origin": "http://localhost:8080", "Range": "bytes=0-9"}, timeout=10)
    assert (other.status_code, other.headers["Access-Control-Allow-Origin"]) == (206, "http://localhost:8080")


def test_block_reads_are_refused_to_other_origins_forged_links_and_other_keys(served: Served) -> None:
    provision(_endpoint_session(served), NAMES)
    url = _block_url(served)
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    forged = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    other_key = _block_url(served, key="assets/owner=o/sha256=abc")
    expired = _block_url(served, ExpiresIn=1)
    page = "https://a-page-the-developer-visits.example"
    unsigned = url.split("?", 1)[0]
    refusals = {
        "another origin": requests.get(url, headers={"Origin": page}, timeout=10),
        "the site's origin on another port": requests.get(url, headers={"Origin": "http://127.0.0.1:9"}, timeout=10),
        "a forged signature": requests.get(forged, headers={"Origin": SITE}, timeout=10),
        "no signature": requests.get(unsigned, headers={"Origin": SITE}, timeout=10),
        "a key outside recordings/": requests.get(other_key, headers={"Origin": SITE}, timeout=10),
        "a signature in a value": requests.get(f"{unsigned}?x=X-Amz-Signature=1", headers={"Origin": SITE}, timeout=10),
        "a write": requests.put(url, data=b"x", headers={"Origin": SITE}, timeout=10),
        "a delete": requests.delete(url, headers={"Origin": SITE}, timeout=10),
        "preflight of another origin": requests.options(
            url, headers={"Origin": page, "Access-Control-Request-Method": "GET"}, timeout=10
        ),
        "preflight of a write": requests.options(
            url, headers={"Origin": SITE, "Access-Control-Request-Method": "PUT"}, timeout=10
        ),
        "preflight of other headers": requests.options(
            url,
            headers={
                "Origin": SITE,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "range, x-amz-target",
            },
            timeout=10,
        ),
        "preflight outside recordings/": requests.options(
            other_key, headers={"Origin": SITE, "Access-Control-Request-Method": "GET"}, timeout=10
        ),
    }
    time.sleep(1.1)
    refusals["an expired link"] = requests.get(expired, headers={"Origin": SITE}, timeout=10)
    for what, response in refusals.items():
        assert response.status_code in (400, 403), (what, response.status_code, response.text)
        assert _cors(response) == {}, what
    # Without an Origin (an <img>), a forged or expired link is refused as well.
    for link in (forged, expired):
        response = requests.get(link, timeout=10)
        assert response.status_code == 403
        assert "<Error><Code>" in response.text
    assert client(served, "s3").get_object(Bucket=NAMES.bucket, Key=BLOCK_KEY)["Body"].read() == BLOCKS


def test_the_stacks_sqs_calls_pass(served: Served) -> None:
    sqs = client(served, "sqs")
    queue = sqs.create_queue(QueueName="failures")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody='{"reason":"test"}')
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)["Messages"]
    assert message["Body"] == '{"reason":"test"}'
    # A page cannot do the same.
    refused = requests.post(
        served.url + "/",
        headers={
            "Origin": SITE,
            "X-Amz-Target": "AmazonSQS.ReceiveMessage",
            "Content-Type": "application/x-amz-json-1.0",
        },
        data=json.dumps({"QueueUrl": queue}),
        timeout=10,
    )
    assert refused.status_code == 403
