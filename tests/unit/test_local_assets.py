"""A page's asset upload against the embedded AWS's guard, which checks it as S3 does.

moto stores any body under any checksum; the guard refuses a PUT whose bytes do not hash
to its ``x-amz-checksum-sha256`` (S3's BadDigest), and moto honours ``If-None-Match``.
The presigned PUT's signature pins the key, the checksum, the length and the type, so
nobody holding a public ingest key can store other bytes under an owner's hash.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from chalicelib import layout
from chalicelib.assets import Assets, AssetsRequest, Wanted
from tests.support.embedded_aws import Served, guarded_moto

KEY_ID = "AKASSETSTEST00000001"
SECRET = "assets-test-secret-0123456789abcdefghij"
BUCKET = "rrweb-s3-storage-assets-recordings"
OWNER = "owner-a"
PNG = b"\x89PNG\r\n\x1a\n" + b"the visitor saw this" * 50


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with guarded_moto(key_id=KEY_ID, secret=SECRET, journal=tmp_path / "journal", cognito_file=tmp_path / "c") as it:
        s3(it).create_bucket(Bucket=BUCKET)
        yield it


def s3(served: Served) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=served.url,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def upload_for(served: Served, data: bytes, owner: str = OWNER, content_type: str = "image/png") -> dict[str, Any]:
    """The presigned upload ``POST /assets/missing`` answers for ``data``."""
    asked = AssetsRequest("rec-00000001", (Wanted(hashlib.sha256(data).hexdigest(), len(data), content_type),))
    answer = Assets(s3=s3(served), bucket=BUCKET, retention_days=30).missing(owner, asked, lambda _: None)
    (missing,) = answer["missing"]
    upload: dict[str, Any] = missing["upload"]
    return upload


def put(upload: dict[str, Any], body: bytes, **headers: str) -> requests.Response:
    sent = {**upload["headers"], **headers}
    return requests.put(upload["url"], data=body, headers={k: v for k, v in sent.items() if v}, timeout=10)


def stored(served: Served, data: bytes, owner: str = OWNER) -> bytes | None:
    try:
        body: bytes = (
            s3(served)
            .get_object(Bucket=BUCKET, Key=layout.asset_key(owner, hashlib.sha256(data).hexdigest()))["Body"]
            .read()
        )
    except s3(served).exceptions.NoSuchKey:
        return None
    return body


def test_the_bytes_of_the_hash_are_stored_once_and_never_overwritten(served: Served) -> None:
    upload = upload_for(served, PNG)
    assert put(upload, PNG).status_code == 200
    assert stored(served, PNG) == PNG
    again = put(upload, PNG)
    assert again.status_code == 412, "an asset, once stored, is never written again"
    assert stored(served, PNG) == PNG


def test_other_bytes_under_the_hash_are_refused_and_nothing_is_stored(served: Served) -> None:
    upload = upload_for(served, PNG)
    poison = bytes(len(PNG))  # the same length: only the checksum tells them apart
    refused = put(upload, poison)
    assert refused.status_code == 400
    assert "<Code>BadDigest</Code>" in refused.text
    assert stored(served, PNG) is None


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (PNG + b"more", {}),
        (PNG, {"Content-Type": "text/html"}),
        (PNG, {"x-amz-checksum-sha256": ""}),
        (PNG, {"If-None-Match": ""}),
    ],
    ids=["longer", "other type", "no checksum", "may overwrite"],
)
def test_an_upload_that_changes_what_was_signed_is_refused(
    served: Served, body: bytes, headers: dict[str, str]
) -> None:
    refused = put(upload_for(served, PNG), body, **headers)
    assert refused.status_code in (400, 403), refused.text
    assert stored(served, PNG) is None


def test_an_upload_cannot_be_moved_to_another_owners_prefix(served: Served) -> None:
    upload = upload_for(served, PNG)
    moved = dict(upload, url=upload["url"].replace(f"owner%3D{OWNER}", "owner%3Downer-b"))
    assert moved["url"] != upload["url"]
    assert put(moved, PNG).status_code == 403
    assert stored(served, PNG, owner="owner-b") is None


def test_an_expired_upload_is_refused(served: Served) -> None:
    digest = hashlib.sha256(PNG).digest()
    url = s3(served).generate_presigned_url(
        "put_object",
        Params={
            "Bucket": BUCKET,
            "Key": layout.asset_key(OWNER, digest.hex()),
            "ContentType": "image/png",
            "ContentLength": len(PNG),
            "ChecksumSHA256": base64.b64encode(digest).decode(),
            "IfNoneMatch": "*",
        },
        ExpiresIn=1,
    )
    time.sleep(2.1)
    headers = {"Content-Type": "image/png", "x-amz-checksum-sha256": base64.b64encode(digest).decode()}
    refused = requests.put(url, data=PNG, headers={**headers, "If-None-Match": "*"}, timeout=10)
    assert refused.status_code == 403
    assert stored(served, PNG) is None


def test_two_uploads_of_one_asset_at_once_store_it_once(served: Served) -> None:
    upload = upload_for(served, PNG)
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(put(upload, PNG).status_code)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 412]
    assert stored(served, PNG) == PNG


def test_any_page_may_send_its_assets_across_origins(served: Served) -> None:
    upload = upload_for(served, PNG)
    origin = {"Origin": "https://shop.example"}
    preflight = requests.options(
        upload["url"],
        headers={
            **origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,if-none-match,x-amz-checksum-sha256",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    sent = put(upload, PNG, **origin)
    assert sent.status_code == 200, sent.text
    assert sent.headers["Access-Control-Allow-Origin"] == "*"
    assert stored(served, PNG) == PNG
    # A poisoned one from a page is refused all the same, and the page learns only that.
    other = upload_for(served, b"GIF89a" + b"x" * 40, content_type="image/gif")
    refused = put(other, b"GIF89a" + b"y" * 40, **origin)
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_an_asset_uploaded_as_gzip_is_read_back_as_its_stored_bytes_never_inflated(served: Served) -> None:
    # An upload may add headers its signature does not name, such as Content-Encoding; a
    # read that honoured it would have the viewer's browser inflate a bomb past the size cap.
    bomb = gzip.compress(b"<svg xmlns='http://www.w3.org/2000/svg'>" + b" " * 2_000_000 + b"</svg>")
    assert put(upload_for(served, bomb, content_type="image/svg+xml"), bomb, **{"Content-Encoding": "gzip"}).ok
    digest = hashlib.sha256(bomb).hexdigest()
    (url,) = Assets(s3=s3(served), bucket=BUCKET, retention_days=30).presigned_reads(OWNER, [digest]).values()
    read = requests.get(url, timeout=10, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert read.status_code == 200
    assert read.headers.get("Content-Encoding", "identity") == "identity"
    assert read.raw.read() == bomb  # the bytes as stored, which hash to the asset's name


def test_an_upload_carrying_an_x_amz_header_its_url_did_not_sign_is_refused(served: Served) -> None:
    refused = put(upload_for(served, PNG), PNG, **{"x-amz-meta-evil": "1"})
    assert refused.status_code == 403, refused.text
    assert "not signed" in refused.text
    assert stored(served, PNG) is None
