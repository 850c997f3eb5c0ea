"""The bundle is what gets tested: each function run from the unzipped Lambda bundle.

The bundle is built as the Pulumi program builds it (``infra.packaging.package``), for
the stack's default runtime, unzipped, and each function's handler (as Chalice's
template names it) runs in a clean interpreter of the runtime's Python: isolated, no
site-packages, only the bundle and the standard library on the path, as on Lambda. The
events have the shapes AWS documents for each trigger; the functions talk to the
embedded AWS (moto behind the local stack's guard, every signature checked) with the
SDK the bundle carries.

This machine's processor is x86-64, so the bundle run here is the x86_64 build of the
default runtime from the same sources and lock; the default arm64 bundle differs only in
its compiled wheels, which ``packaging.verify`` checks by tag and ELF header when it is
built (tests/infra, tests/unit/test_packaging.py).
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chalicelib import environment as env
from chalicelib import function_url, layout
from chalicelib import records as records_module
from infra import packaging
from local.resources import Names, provision
from tests.support.accounts import POOL_PASSWORD
from tests.support.embedded_aws import Served, guarded_moto

pytestmark = pytest.mark.long(seconds=60)

RUNTIME = packaging.DEFAULT_RUNTIME
RUNNER = Path(__file__).parents[1] / "support" / "lambda_runner.py"
NAMES = Names.for_stack("bundle")
KEY_ID = "AKBUNDLETEST00000001"
SECRET = "bundle-test-secret-0123456789abcdefghij"
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Bundle:
    """The unzipped bundle, its handlers, and the environment Lambda gives each function."""

    folder: Path
    handlers: dict[str, str]
    python: str
    environment: dict[str, str]
    served: Served

    def invoke(self, function: str, event: dict[str, Any], tmp_path: Path, **extra_env: str) -> dict[str, Any]:
        """Run ``function``'s handler on ``event`` in a fresh interpreter (a cold start); its answer."""
        name = uuid.uuid4().hex[:8]
        event_file, answer_file = tmp_path / f"{name}.event.json", tmp_path / f"{name}.answer.json"
        event_file.write_text(json.dumps(event))
        ran = subprocess.run(
            [
                self.python,
                "-I",
                "-S",
                str(RUNNER),
                str(self.folder),
                self.handlers[function],
                str(event_file),
                str(answer_file),
            ],
            env={**self.environment, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, f"{function} failed:\n{ran.stdout}\n{ran.stderr}"
        answer: dict[str, Any] = json.loads(answer_file.read_text())
        return answer


def aws_client(served: Served, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=served.url,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}),
    )


class _Session:
    def __init__(self, served: Served) -> None:
        self.served = served

    def client(self, service: str, **_: Any) -> Any:
        return aws_client(self.served, service)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundle]:
    built = packaging.package("dev", runtime=RUNTIME, architecture="x86_64")
    folder = tmp_path_factory.mktemp("bundle")
    with zipfile.ZipFile(built.zip_path) as archive:
        archive.extractall(folder)
    handlers = {name: spec["Handler"] for name, spec in built.functions().items()}
    python = packaging.find_python(RUNTIME.removeprefix("python"))
    work = tmp_path_factory.mktemp("aws")
    with guarded_moto(key_id=KEY_ID, secret=SECRET, journal=work / "journal", cognito_file=work / "cognito") as served:
        ids = provision(_Session(served), NAMES, notify=False)
        environment = {
            # What Lambda sets, and the credentials of the function's role.
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_LAMBDA_FUNCTION_NAME": "rrweb-s3-storage-bundle",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            # The embedded AWS stands in for AWS's endpoints (the SDK's standard variable).
            "AWS_ENDPOINT_URL": served.url,
            # What the Pulumi program sets (infra/api.py).
            **NAMES.environment(),
            env.USER_POOL_ID: ids[env.USER_POOL_ID],
            env.USER_POOL_CLIENT_ID: ids[env.USER_POOL_CLIENT_ID],
            env.FAILURE_QUEUE_URL: ids[env.FAILURE_QUEUE_URL],
            env.RETENTION_DAYS: "30",
        }
        yield Bundle(folder=folder, handlers=handlers, python=python, environment=environment, served=served)


# The events, in the shapes AWS documents for each trigger.


def api_event(
    method: str, path: str, resource: str, headers: dict[str, str], body: bytes | None = None
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy integration event, binary bodies base64 as API Gateway sends them."""
    params = dict(
        zip(
            [part.strip("{}") for part in resource.split("/") if part.startswith("{")],
            [part for part, shape in zip(path.split("/"), resource.split("/"), strict=True) if shape.startswith("{")],
            strict=True,
        )
    )
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "extendedRequestId": "Bundle" + uuid.uuid4().hex[:10],
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoIdentityId": None,
                "sourceIp": "203.0.113.7",
                "user": None,
                "userAgent": headers.get("User-Agent", "bundle-test"),
                "userArn": None,
            },
            "path": f"/api{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourceId": "abc123",
            "resourcePath": resource,
            "stage": "api",
        },
        "body": None if body is None else base64.b64encode(body).decode(),
        "isBase64Encoded": body is not None,
    }


def kinesis_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """What Lambda's event source mapping hands the consumer for a batch of stream records."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(record["Data"]).decode(),
                    "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/consume-events",
                "awsRegion": REGION,
                "eventSourceARN": stream_arn,
            }
            for record in records
        ]
    }


def schedule_event() -> dict[str, Any]:
    """EventBridge's scheduled event, as the compactor's rule sends it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/compact-recordings"],
        "detail": {},
    }


def s3_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    """S3's object-created notification (keys URL-encoded, as S3 sends them)."""
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "object-created",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": "0123456789abcdef",
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }


def answer_json(answer: dict[str, Any]) -> tuple[int, Any]:
    response = answer["result"]
    body = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"].encode()
    if response.get("headers", {}).get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return response["statusCode"], body


def test_each_function_runs_from_the_bundle_in_a_clean_runtime_python(bundle: Bundle, tmp_path: Path) -> None:
    served = bundle.served
    assert set(bundle.handlers) == {
        "APIHandler",
        "Ingest",
        "ConsumeEvents",
        "ConsumeWatchedEvents",
        "CompactRecordings",
        "ReapOrphans",
        "ExpireRecordings",
    }

    # GET /health: the function starts and answers.
    health = bundle.invoke(
        "APIHandler", api_event("GET", "/health", "/health", {"Accept": "application/json"}), tmp_path
    )
    assert health["python"] == RUNTIME.removeprefix("python")
    assert health["boto3"].startswith(str(bundle.folder)), "the bundle's own SDK, not one from elsewhere"
    assert health["urllib3"].startswith(str(bundle.folder))
    assert not any("site-packages" in entry for entry in health["path"]), health["path"]
    assert answer_json(health)[0] == 200

    # A user of the pool (made directly, as an administrator would invite one) makes an
    # ingest key through the API: the access token is verified against the pool's keys
    # with the bundle's PyJWT and cryptography.
    cognito = aws_client(served, "cognito-idp")
    email = "bundle@example.com"
    cognito.admin_create_user(
        UserPoolId=bundle.environment[env.USER_POOL_ID],
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(
        UserPoolId=bundle.environment[env.USER_POOL_ID], Username=email, Password=POOL_PASSWORD, Permanent=True
    )
    signed_in = bundle.invoke(
        "APIHandler",
        api_event(
            "POST",
            "/auth/signin",
            "/auth/signin",
            {"Content-Type": "application/json"},
            json.dumps({"email": email, "password": POOL_PASSWORD}).encode(),
        ),
        tmp_path,
    )
    status, body = answer_json(signed_in)
    assert status == 200, body
    bearer = {"Authorization": f"Bearer {json.loads(body)['accessToken']}"}
    made = bundle.invoke(
        "APIHandler",
        api_event("POST", "/keys", "/keys", {**bearer, "Content-Type": "application/json"}, b'{"name": "bundle"}'),
        tmp_path,
    )
    status, body = answer_json(made)
    assert status == 201, body
    ingest = {"Authorization": f"Bearer {json.loads(body)['key']}"}

    # The recorder's two calls: create, then a gzip batch of events.
    created = bundle.invoke(
        "APIHandler",
        api_event(
            "POST",
            "/recordings",
            "/recordings",
            {**ingest, "Content-Type": "application/json"},
            json.dumps({"url": "https://shop.example/", "title": "Shop"}).encode(),
        ),
        tmp_path,
    )
    status, body = answer_json(created)
    assert status == 201, body
    recording = json.loads(body)["recording"]["id"]
    events = [
        {
            "type": 4,
            "data": {"href": "https://shop.example/", "width": 1280, "height": 800},
            "timestamp": 1_700_000_000_000,
        },
        {"type": 3, "data": {"source": 2, "type": 2, "id": 7, "x": 10, "y": 20}, "timestamp": 1_700_000_000_500},
    ]
    posted = bundle.invoke(
        "APIHandler",
        api_event(
            "POST",
            f"/recordings/{recording}/events",
            "/recordings/{recording_id}/events",
            {**ingest, "Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
            gzip.compress(json.dumps({"seq": 1, "events": events}).encode()),
        ),
        tmp_path,
    )
    status, body = answer_json(posted)
    assert status == 202, body
    # The recorder's door: a later batch as its function URL delivers it (base64 gzip as
    # text), to the ingest function.
    later = [{"type": 3, "data": {"source": 2, "type": 2, "id": 7, "x": 30, "y": 40}, "timestamp": 1_700_000_001_000}]
    through_door = bundle.invoke(
        "Ingest",
        function_url.url_event(
            method="POST",
            path=f"/recordings/{recording}/events",
            query=f"ingestKey={ingest['Authorization'].removeprefix('Bearer ')}",
            headers={"Content-Type": "text/plain", "Origin": "https://shop.example"},
            body=base64.b64encode(gzip.compress(json.dumps({"seq": 2, "events": later}).encode())),
            source_ip="203.0.113.9",
            request_id="bundle",
        ),
        tmp_path,
    )
    assert through_door["result"]["statusCode"] == 202, through_door
    assert json.loads(through_door["result"]["body"])["events"] == 1
    events += later

    # The consumer, on the records the API put in the stream.
    kinesis = aws_client(served, "kinesis")
    stream = kinesis.describe_stream(StreamName=NAMES.stream)["StreamDescription"]
    records = []
    for shard in stream["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=NAMES.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += kinesis.get_records(ShardIterator=iterator)["Records"]
    assert records, "the API put the batch in the stream"
    consumed = bundle.invoke("ConsumeEvents", kinesis_event(records, stream["StreamARN"]), tmp_path)
    assert consumed["result"] == {"batchItemFailures": []}, consumed
    # The watched consumer is the same code on its own mapping: nobody watched, so its
    # filter would have handed it none of these records.
    assert not any(records_module.decode_record(r["Data"], data=False).live for r in records)
    watched = bundle.invoke("ConsumeWatchedEvents", kinesis_event([], stream["StreamARN"]), tmp_path)
    assert watched["result"] == {"batchItemFailures": []}, watched

    s3 = aws_client(served, "s3")
    listed = s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=layout.RECORDINGS_ROOT)["Contents"]
    (owner,) = {layout.parse_recording_key(item["Key"])[0] for item in listed}  # type: ignore[index]

    read = bundle.invoke(
        "APIHandler",
        api_event(
            "GET",
            f"/recordings/{recording}/events",
            "/recordings/{recording_id}/events",
            {**bearer, "Accept": "application/x-ndjson", "Accept-Encoding": "gzip"},
        ),
        tmp_path,
    )
    status, body = answer_json(read)
    assert status == 200, body
    assert [json.loads(line) for line in body.splitlines()] == events

    # The compactor, on its schedule, with the idle time over.
    compacted = bundle.invoke("CompactRecordings", schedule_event(), tmp_path, **{env.COMPACT_IDLE_SECONDS: "0"})
    assert compacted["result"].get("compacted") == 1, compacted
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=layout.RECORDINGS_ROOT)["Contents"]]
    assert any(layout.compacted_generation(key) for key in keys), keys

    # The retention expiry, on its schedule: no workspace keeps less than the stack.
    expired = bundle.invoke("ExpireRecordings", schedule_event(), tmp_path)
    assert expired["result"] == {"workspaces": 0, "deleted": 0, "more": False}, expired

    # The reaper, on S3's notification of an object no recording owns.
    orphan = layout.chunk_key(owner, "rec-never-created", "00000001-late.gz")
    s3.put_object(Bucket=NAMES.bucket, Key=orphan, Body=b"late")
    reaped = bundle.invoke("ReapOrphans", s3_event(NAMES.bucket, orphan, 4), tmp_path)
    assert reaped["result"] == {"reaped": 1, "screenshots": 0}, reaped
    assert "Contents" not in s3.list_objects_v2(
        Bucket=NAMES.bucket, Prefix=layout.recording_prefix(owner, "rec-never-created")
    )
