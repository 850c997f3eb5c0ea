"""The embedded AWS serves only requests signed with the stack's own credentials, as AWS checks them.

moto checks no signature; the guard in front of it does, with botocore's signer: a
forged or stale signature, another key, or a body changed after signing get 403 in
the service's own error shape, and change nothing. What AWS serves unsigned (Cognito's
user calls, a pool's public keys) stays unsigned.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from local.resources import Names, provision
from local.sigv4 import SignatureRejectedError, parse_authorization
from tests.support.embedded_aws import Served, guarded_moto

NAMES = Names.for_stack("sigv4")
KEY_ID = "AKLOTESTKEY000000001"
SECRET = "sigv4-test-secret-0123456789abcdefghijkl"
FORGED = "a-secret-anyone-could-guess-0123456789ab"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with guarded_moto(
        key_id=KEY_ID, secret=SECRET, journal=tmp_path / "journal", cognito_file=tmp_path / "cognito.pickle"
    ) as running:
        yield running


def client(served: Served, service: str, *, key_id: str = KEY_ID, secret: str = SECRET) -> Any:
    return boto3.client(
        service,
        endpoint_url=served.url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )


class _Stack:
    """A session-like object that provisions through the served endpoint with the stack's key."""

    def __init__(self, served: Served) -> None:
        self._served = served

    def client(self, service: str, **_: Any) -> Any:
        return client(self._served, service)


def _refused(call: Any, code: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403, error
    assert error["Error"]["Code"] == code, error
    return caught.value


def test_a_forged_signature_reads_and_deletes_nothing(served: Served) -> None:
    provision(_Stack(served), NAMES)
    s3, dynamodb = client(served, "s3"), client(served, "dynamodb")
    s3.put_object(Bucket=NAMES.bucket, Key="recordings/o/chunk.gz", Body=b"chunk")
    dynamodb.put_item(TableName=NAMES.access_table, Item={"pk": {"S": "key#secret-hash"}})

    forgers = {
        "SignatureDoesNotMatch": client(served, "s3", secret=FORGED),
        "InvalidAccessKeyId": client(served, "s3", key_id="local", secret="local"),
    }
    for code, forger in forgers.items():
        _refused(lambda f=forger: f.list_objects_v2(Bucket=NAMES.bucket), code)
        _refused(lambda f=forger: f.delete_object(Bucket=NAMES.bucket, Key="recordings/o/chunk.gz"), code)
        _refused(
            lambda f=forger: f.delete_objects(
                Bucket=NAMES.bucket, Delete={"Objects": [{"Key": "recordings/o/chunk.gz"}]}
            ),
            code,
        )
    _refused(
        lambda: client(served, "dynamodb", secret=FORGED).scan(TableName=NAMES.access_table),
        "InvalidSignatureException",
    )
    _refused(
        lambda: client(served, "cognito-idp", secret=FORGED).list_user_pools(MaxResults=10), "InvalidSignatureException"
    )
    _refused(
        lambda: client(served, "dynamodb", key_id="local", secret="local").scan(TableName=NAMES.access_table),
        "UnrecognizedClientException",
    )
    # Nothing was deleted.
    assert s3.get_object(Bucket=NAMES.bucket, Key="recordings/o/chunk.gz")["Body"].read() == b"chunk"


def test_a_made_up_authorization_header_is_refused_in_the_services_shape(served: Served) -> None:
    provision(_Stack(served), NAMES)
    date = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    fake = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/{date[:8]}/us-east-1/s3/aws4_request, "
        f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={'0' * 64}",
        "X-Amz-Date": date,
        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
    }
    listed = requests.get(f"{served.url}/{NAMES.bucket}?list-type=2", headers=fake, timeout=10)
    assert listed.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in listed.text
    dynamo = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/{date[:8]}/us-east-1/dynamodb/aws4_request, "
        f"SignedHeaders=host;x-amz-date;x-amz-target, Signature={'0' * 64}",
        "X-Amz-Date": date,
        "X-Amz-Target": "DynamoDB_20120810.Scan",
        "Content-Type": "application/x-amz-json-1.0",
    }
    scanned = requests.post(f"{served.url}/", data=json.dumps({"TableName": NAMES.table}), headers=dynamo, timeout=10)
    assert scanned.status_code == 403
    assert scanned.json()["__type"] == "InvalidSignatureException"
    # An X-Amz-Target alone is no credential either (Cognito's admin calls need one).
    unsigned = requests.post(
        f"{served.url}/",
        data=json.dumps({"MaxResults": 10}),
        headers={
            "X-Amz-Target": "AWSCognitoIdentityProviderService.ListUserPools",
            "Content-Type": "application/x-amz-json-1.1",
        },
        timeout=10,
    )
    assert unsigned.status_code == 403
    assert unsigned.json()["__type"] == "MissingAuthenticationTokenException"


def test_the_stacks_own_signature_is_served(served: Served) -> None:
    provision(_Stack(served), NAMES)
    s3, dynamodb, cognito = client(served, "s3"), client(served, "dynamodb"), client(served, "cognito-idp")
    s3.put_object(Bucket=NAMES.bucket, Key="recordings/o/a key with spaces+plus.gz", Body=b"chunk")
    listed = s3.list_objects_v2(Bucket=NAMES.bucket, Prefix="recordings/o/")
    assert [entry["Key"] for entry in listed["Contents"]] == ["recordings/o/a key with spaces+plus.gz"]
    assert dynamodb.scan(TableName=NAMES.table)["Count"] == 0
    assert [pool["Name"] for pool in cognito.list_user_pools(MaxResults=10)["UserPools"]] == [NAMES.user_pool]
    s3.delete_objects(Bucket=NAMES.bucket, Delete={"Objects": [{"Key": "recordings/o/a key with spaces+plus.gz"}]})
    assert "Contents" not in s3.list_objects_v2(Bucket=NAMES.bucket)


def test_a_body_changed_after_signing_is_refused(served: Served) -> None:
    provision(_Stack(served), NAMES)
    dynamodb = client(served, "dynamodb")

    def swap_table(request: Any, **_: Any) -> None:
        # Same length, so only the signature can tell: another table.
        request.body = request.body.replace(NAMES.table.encode(), NAMES.table[:-1].encode() + b"X")

    dynamodb.meta.events.register_first("before-send.dynamodb.Scan", swap_table)
    _refused(lambda: dynamodb.scan(TableName=NAMES.table), "InvalidSignatureException")
    s3 = client(served, "s3")

    def swap_body(request: Any, **_: Any) -> None:
        request.body = b"forged bytes"

    s3.meta.events.register_first("before-send.s3.PutObject", swap_body)
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=NAMES.bucket, Key="recordings/o/x", Body=b"signed bytes")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    assert "Contents" not in client(served, "s3").list_objects_v2(Bucket=NAMES.bucket)


def test_a_signature_older_than_fifteen_minutes_is_refused(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    provision(_Stack(served), NAMES)
    then = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=16)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)
    _refused(lambda: client(served, "s3").list_objects_v2(Bucket=NAMES.bucket), "RequestTimeTooSkewed")
    _refused(lambda: client(served, "dynamodb").scan(TableName=NAMES.table), "InvalidSignatureException")


def test_what_aws_serves_unsigned_stays_unsigned(served: Served) -> None:
    variables = provision(_Stack(served), NAMES)
    pool, app_client = variables["RRWEB_USER_POOL_ID"], variables["RRWEB_USER_POOL_CLIENT_ID"]
    # botocore sends these without a signature, as a browser or the API's sign-up route does.
    anonymous = boto3.client(
        "cognito-idp",
        endpoint_url=served.url,
        region_name="us-east-1",
        config=Config(signature_version=botocore.UNSIGNED),
    )
    anonymous.sign_up(ClientId=app_client, Username="a@example.com", Password="Test-Pass-1234")
    client(served, "cognito-idp").admin_confirm_sign_up(UserPoolId=pool, Username="a@example.com")
    tokens = anonymous.initiate_auth(
        ClientId=app_client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "a@example.com", "PASSWORD": "Test-Pass-1234"},
    )["AuthenticationResult"]
    assert anonymous.get_user(AccessToken=tokens["AccessToken"])["Username"]
    assert requests.get(f"{served.url}/{pool}/.well-known/jwks.json", timeout=10).json()["keys"]
    # The admin calls are not among them.
    with pytest.raises(ClientError) as caught:
        anonymous.admin_get_user(UserPoolId=pool, Username="a@example.com")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_presigned_urls_verify_for_get_and_put(served: Served) -> None:
    provision(_Stack(served), NAMES)
    s3 = client(served, "s3")
    put = s3.generate_presigned_url("put_object", Params={"Bucket": NAMES.bucket, "Key": "recordings/o/up"})
    assert requests.put(put, data=b"uploaded", timeout=10).status_code == 200
    get = s3.generate_presigned_url("get_object", Params={"Bucket": NAMES.bucket, "Key": "recordings/o/up"})
    assert requests.get(get, timeout=10).content == b"uploaded"
    forged = client(served, "s3", secret=FORGED).generate_presigned_url(
        "put_object", Params={"Bucket": NAMES.bucket, "Key": "recordings/o/up"}
    )
    refused = requests.put(forged, data=b"overwritten", timeout=10)
    assert refused.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in refused.text
    other_key = requests.put(put.replace("recordings/o/up", "recordings/o/other"), data=b"x", timeout=10)
    assert other_key.status_code == 403
    assert s3.get_object(Bucket=NAMES.bucket, Key="recordings/o/up")["Body"].read() == b"uploaded"


def test_an_unsigned_cognito_call_cannot_name_an_admin_operation_elsewhere(served: Served) -> None:
    # moto reads the operation from an Action in the query string or a form body before
    # X-Amz-Target: a SignUp target must not carry ListUsers or AdminDeleteUser unsigned.
    variables = provision(_Stack(served), NAMES)
    pool = variables["RRWEB_USER_POOL_ID"]
    cognito = client(served, "cognito-idp")
    cognito.admin_create_user(UserPoolId=pool, Username="victim@example.com")
    target = {"X-Amz-Target": "AWSCognitoIdentityProviderService.SignUp"}
    named = {"UserPoolId": pool, "Username": "victim@example.com"}
    for action in ("ListUsers", "AdminDeleteUser"):
        in_query = requests.post(
            f"{served.url}/?Action={action}",
            headers={**target, "Content-Type": "application/x-amz-json-1.1"},
            data=json.dumps(named),
            timeout=10,
        )
        assert in_query.status_code == 403, in_query.text
        assert "victim" not in in_query.text
        in_form = requests.post(
            f"{served.url}/",
            headers={**target, "Content-Type": "application/x-www-form-urlencoded"},
            data={"Action": action, **named},
            timeout=10,
        )
        assert in_form.status_code == 403, in_form.text
        assert "victim" not in in_form.text
    users = cognito.list_users(UserPoolId=pool)["Users"]
    assert [attribute["Value"] for attribute in users[0]["Attributes"] if attribute["Name"] == "email"] == [
        "victim@example.com"
    ]


@pytest.mark.parametrize(
    "fields",
    [
        # Two scopes: one parser would check the S3 one, moto would route by the other.
        "Credential=K/20260101/us-east-1/s3/aws4_request, Credential=K/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=00",
        "XCredential=K/20260101/us-east-1/s3/aws4_request, Credential=K/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=00",
        "Credential=K/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=",
    ],
)
def test_an_authorization_header_with_doubled_or_unknown_fields_is_refused(fields: str) -> None:
    with pytest.raises(SignatureRejectedError):
        parse_authorization(f"AWS4-HMAC-SHA256 {fields}")
    scope, signed, signature = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab"
    )
    assert (scope.service, signed, signature) == ("s3", ["host", "x-amz-date"], "ab")


def test_a_query_protocol_service_refuses_in_its_own_xml(served: Served) -> None:
    # STS and IAM answer errors as an XML ErrorResponse: a JSON body would reach boto3 as
    # an unparsable response, not as the refusal it is.
    forged = client(served, "sts", secret=FORGED)
    with pytest.raises(ClientError) as caught:
        forged.get_caller_identity()
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert client(served, "sts").get_caller_identity()["Account"]
