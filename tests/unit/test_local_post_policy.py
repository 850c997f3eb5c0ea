"""The embedded AWS checks browser form uploads' SigV4 POST policies as S3 does."""

from __future__ import annotations

import base64
import datetime as dt
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from local.post_policy import FormRejectedError, FormUpload, parse_form, verify

SECRET = "s3cr3t-for-the-verifier-tests-0123456789"
BUCKET = "rrweb-s3-storage-test-recordings"
KEY = "recordings/owner=o-1/recording=r-1/screenshot.jpg"
MAX_BYTES = 1000


def presigned(secret: str = SECRET, *, expires: int = 300, key: str = KEY) -> dict[str, Any]:
    """What the API hands the recorder: boto3's presigned POST, with the API's conditions."""
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:5000",
        aws_access_key_id="local",
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4"),  # as the API's clients are
    )
    return s3.generate_presigned_post(
        Bucket=BUCKET,
        Key=key,
        Fields={"Content-Type": "image/jpeg"},
        Conditions=[{"Content-Type": "image/jpeg"}, ["content-length-range", 1, MAX_BYTES]],
        ExpiresIn=expires,
    )


def encode(fields: dict[str, str], file: bytes = b"\xff\xd8jpeg", *, after: dict[str, str] | None = None) -> Any:
    """A multipart body as a browser's FormData sends it: the fields, then the file."""
    files: list[tuple[str, Any]] = [(name, (None, value)) for name, value in fields.items()]
    files.append(("file", ("screenshot.jpg", file, "image/jpeg")))
    files += [(name, (None, value)) for name, value in (after or {}).items()]
    return requests.Request("POST", "http://127.0.0.1:5000/", files=files).prepare()


def check(fields: dict[str, str], file: bytes = b"\xff\xd8jpeg", **kwargs: Any) -> FormUpload:
    prepared = encode(fields, file)
    form = parse_form(prepared.headers["Content-Type"], [prepared.body])
    verify(form, bucket=BUCKET, access_key="local", secret_key=SECRET, region="us-east-1", **kwargs)
    return form


def refused(fields: dict[str, str], file: bytes = b"\xff\xd8jpeg", **kwargs: Any) -> FormRejectedError:
    with pytest.raises(FormRejectedError) as caught:
        check(fields, file, **kwargs)
    return caught.value


def test_a_presigned_upload_within_its_policy_passes() -> None:
    form = check(presigned()["fields"], b"x" * MAX_BYTES)
    assert form.file_size == MAX_BYTES
    assert form.fields["key"] == KEY


def test_parse_reads_the_file_in_chunks_without_holding_it() -> None:
    prepared = encode(presigned()["fields"], b"y" * 300_000)
    body = prepared.body
    form = parse_form(prepared.headers["Content-Type"], [body[i : i + 4096] for i in range(0, len(body), 4096)])
    assert form.file_size == 300_000


def test_a_file_over_the_range_is_refused() -> None:
    error = refused(presigned()["fields"], b"x" * (MAX_BYTES + 1))
    assert (error.status, error.code) == (403, "AccessDenied")
    assert "content-length-range" in error.message


def test_an_empty_file_is_refused() -> None:
    assert refused(presigned()["fields"], b"").code == "AccessDenied"


def test_another_content_type_is_refused() -> None:
    fields = {**presigned()["fields"], "Content-Type": "text/html"}
    error = refused(fields)
    assert (error.status, error.code) == (403, "AccessDenied")
    assert "Content-Type" in error.message


def test_another_key_is_refused() -> None:
    fields = {**presigned()["fields"], "key": "recordings/owner=someone-else/recording=r-1/screenshot.jpg"}
    assert refused(fields).code == "AccessDenied"


def test_another_bucket_is_refused() -> None:
    prepared = encode(presigned()["fields"])
    form = parse_form(prepared.headers["Content-Type"], [prepared.body])
    with pytest.raises(FormRejectedError) as caught:
        verify(form, bucket="other-bucket", access_key="local", secret_key=SECRET, region="us-east-1")
    assert caught.value.code == "AccessDenied"


def test_a_policy_signed_with_another_secret_is_refused() -> None:
    error = refused(presigned(secret="local")["fields"])
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")


def test_a_policy_rewritten_after_signing_is_refused() -> None:
    fields = presigned()["fields"]
    document = json.loads(base64.b64decode(fields["policy"]))
    document["conditions"] = [c for c in document["conditions"] if not isinstance(c, list)]
    fields["policy"] = base64.b64encode(json.dumps(document).encode()).decode()
    assert refused(fields, b"x" * 5000).code == "SignatureDoesNotMatch"


def test_an_expired_policy_is_refused() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=301)
    error = refused(presigned(expires=300)["fields"], now=later)
    assert error.code == "AccessDenied"
    assert "expired" in error.message


def test_a_field_no_condition_covers_is_refused() -> None:
    fields = {**presigned()["fields"], "success_action_redirect": "https://evil.example/"}
    error = refused(fields)
    assert error.code == "AccessDenied"
    assert "success_action_redirect" in error.message


def test_x_ignore_fields_need_no_condition() -> None:
    check({**presigned()["fields"], "x-ignore-note": "anything"})


def test_another_access_key_is_refused() -> None:
    fields = {**presigned()["fields"]}
    fields["x-amz-credential"] = "someone/" + fields["x-amz-credential"].split("/", 1)[1]
    assert refused(fields).code == "InvalidAccessKeyId"


@pytest.mark.parametrize("missing", ["policy", "x-amz-signature", "key", "x-amz-credential"])
def test_a_missing_required_field_is_a_bad_request(missing: str) -> None:
    fields = {name: value for name, value in presigned()["fields"].items() if name != missing}
    assert refused(fields).status == 400


def test_fields_after_the_file_are_malformed() -> None:
    # moto would read them; S3 ignores them: either way the checked form is not what is stored.
    prepared = encode(presigned()["fields"], after={"Content-Type": "text/html"})
    with pytest.raises(FormRejectedError) as caught:
        parse_form(prepared.headers["Content-Type"], [prepared.body])
    assert (caught.value.status, caught.value.code) == (400, "MalformedPOSTRequest")


def test_a_field_given_twice_is_malformed() -> None:
    fields = presigned()["fields"]
    files: list[tuple[str, Any]] = [(name, (None, value)) for name, value in fields.items()]
    files += [("content-type", (None, "text/html")), ("file", ("a.jpg", b"x", "image/jpeg"))]
    prepared = requests.Request("POST", "http://127.0.0.1:5000/", files=files).prepare()
    assert isinstance(prepared.body, bytes)  # requests encodes a multipart body as bytes
    with pytest.raises(FormRejectedError) as caught:
        parse_form(prepared.headers["Content-Type"], [prepared.body])
    assert caught.value.status == 400


def test_a_body_cut_before_its_closing_boundary_is_malformed() -> None:
    prepared = encode(presigned()["fields"])
    with pytest.raises(FormRejectedError) as caught:
        parse_form(prepared.headers["Content-Type"], [prepared.body[:-20]])
    assert caught.value.status == 400


def test_a_form_without_a_file_is_a_bad_request() -> None:
    files = [(name, (None, value)) for name, value in presigned()["fields"].items()]
    prepared = requests.Request("POST", "http://127.0.0.1:5000/", files=files).prepare()
    assert isinstance(prepared.body, bytes)  # requests encodes a multipart body as bytes
    with pytest.raises(FormRejectedError) as caught:
        parse_form(prepared.headers["Content-Type"], [prepared.body])
    assert caught.value.status == 400


def test_the_error_body_is_s3_xml() -> None:
    xml = FormRejectedError(403, "AccessDenied", "a <b> & c").xml().decode()
    assert "<Code>AccessDenied</Code>" in xml
    assert "<Message>a &lt;b&gt; &amp; c</Message>" in xml


def test_a_filename_placeholder_without_a_file_name_is_malformed() -> None:
    fields = presigned(key="recordings/owner=o/recording=r/${filename}screenshot.jpg")["fields"]
    prepared = requests.Request(
        "POST", "http://127.0.0.1:5000/", files=[*[(n, (None, v)) for n, v in fields.items()], ("file", (None, "x"))]
    ).prepare()
    assert isinstance(prepared.body, bytes)  # requests encodes a multipart body as bytes
    form = parse_form(prepared.headers["Content-Type"], [prepared.body])
    with pytest.raises(FormRejectedError) as caught:
        verify(form, bucket=BUCKET, access_key="local", secret_key=SECRET, region="us-east-1")
    assert caught.value.status == 400


def test_parse_pulls_the_body_as_it_goes_never_all_at_once() -> None:
    prepared = encode(presigned()["fields"], b"z" * 2_000_000)
    body = prepared.body
    pulled: list[int] = []

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(body), 65536):
            pulled.append(at)
            yield body[at : at + 65536]

    tracemalloc.start()
    form = parse_form(prepared.headers["Content-Type"], chunks())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert form.file_size == 2_000_000
    assert peak < 1_000_000  # chunks are read and dropped, not collected into a list first
