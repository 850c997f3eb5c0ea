"""Page assets kept once per owner, named by their content.

A recorder hashes what the page showed (images, fonts, large stylesheets) with SHA-256
and asks which of those hashes its owner does not hold yet. The question rides on the
page's next batch (its ``assets`` field, answered in the batch's answer), so it costs no
request of its own; ``POST /assets/missing`` asks it alone. The answer carries, for
each, a presigned PUT to ``assets/owner=<o>/sha256=<hex>`` whose signature pins the
bytes' SHA-256 (``x-amz-checksum-sha256``: S3 refuses a body that does not hash to
it), their exact length and type, and ``If-None-Match: *`` (an asset, once stored, is
never overwritten). Ingest keys are public, so without the checksum anyone could store
other bytes under a hash an owner's replays use.

Assets live as long as the recordings that use them, by a lease rather than reference
counts: the bucket's lifecycle deletes an asset ``asset_days(retention)`` days after it
was last written, and a page that asks about an asset held for more than half the
retention rewrites it in place (a server-side copy, no bytes from the browser), so an
asset lives at least a retention past the last recording that asked for it. Deleting a
recording deletes none of its assets: another recording may share them.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.exceptions import ClientError

from . import layout, settings, validation
from .errors import ApiError, BadRequestError, PayloadTooLargeError

SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
# What an asset may be stored as. The replay serves each with its type pinned, so an
# SVG is drawn as an image and never run as a document; anything else is refused.
CONTENT_TYPES = frozenset(
    {
        "image/avif",
        "image/bmp",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/svg+xml",
        "image/webp",
        "image/x-icon",
        "font/otf",
        "font/ttf",
        "font/woff",
        "font/woff2",
        "text/css",
    }
)


def lookup_requests(assets: int) -> int:
    """What a question about ``assets`` assets weighs against a budget's requests (settings)."""
    return max(1, math.ceil(assets / settings.ASSET_LOOKUPS_PER_REQUEST))


def asset_days(retention_days: int) -> int:
    """How long after its last write the bucket keeps an asset: one and a half retentions (see the module)."""
    return math.ceil(retention_days * 1.5)


@dataclass(frozen=True)
class Wanted:
    """One asset a page used: its SHA-256, size and type."""

    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True)
class AssetsRequest:
    """A page's question: which of these does the owner lack, for which recording."""

    recording_id: str
    assets: tuple[Wanted, ...]

    @property
    def sizes(self) -> dict[str, int]:
        """Bytes per hash."""
        return {asset.sha256: asset.size for asset in self.assets}


def _json(body: bytes) -> Any:
    """The body of an assets request, parsed (413 past its size, 400 for anything not JSON)."""
    if len(body) > settings.ASSETS_REQUEST_MAX_BYTES:
        raise PayloadTooLargeError(
            f"an assets request is at most {settings.ASSETS_REQUEST_MAX_BYTES} bytes", code="body_too_large"
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError("the body is not JSON", code="invalid_json") from exc


def plain_body(content_encoding: str | None) -> None:
    """415 for a compressed question: it is small (64 KiB at most) and read as it came."""
    if (content_encoding or "identity").strip().lower() != "identity":
        raise ApiError("send the question uncompressed (no Content-Encoding)", code="unsupported_encoding", status=415)


def parse(body: bytes) -> AssetsRequest:
    """``{"recording": id, "assets": [{"sha256", "size", "type"}...]}``, checked whole (400/413)."""
    data = _json(body)
    if not isinstance(data, dict) or not isinstance(data.get("assets"), list):
        raise BadRequestError('expected {"recording": "<id>", "assets": [...]}', code="invalid_assets")
    recording = validation.recording_id(data.get("recording"))
    return AssetsRequest(recording_id=recording, assets=entries(data["assets"]))


def carried(raw: bytes | None) -> tuple[Wanted, ...]:
    """A batch's ``assets`` field (the JSON as sent; None when absent): the page's question riding on it.

    The same entries as ``POST /assets/missing`` takes, checked whole before anything is
    written (400/413); absent, null or empty: no question.
    """
    if raw is None:
        return ()
    if len(raw) > settings.ASSETS_REQUEST_MAX_BYTES:
        raise PayloadTooLargeError(
            f"a batch's assets are at most {settings.ASSETS_REQUEST_MAX_BYTES} bytes of JSON", code="too_many_assets"
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Valid JSON that Python cannot hold (a number past a double's range).
        raise BadRequestError("assets holds a number out of range", code="invalid_assets") from None
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequestError('assets must be a list of {"sha256", "size", "type"}', code="invalid_assets")
    return entries(value)


def entries(listed: list[Any]) -> tuple[Wanted, ...]:
    """The question's entries ``[{"sha256", "size", "type"}...]``, checked whole (400/413), repeats merged."""
    if len(listed) > settings.ASSETS_PER_REQUEST:
        raise PayloadTooLargeError(f"at most {settings.ASSETS_PER_REQUEST} assets per request", code="too_many_assets")
    seen: dict[str, Wanted] = {}
    for index, entry in enumerate(listed):
        if not isinstance(entry, dict):
            raise BadRequestError(f"assets[{index}] must be an object", code="invalid_assets")
        digest, size, content_type = entry.get("sha256"), entry.get("size"), entry.get("type")
        if not isinstance(digest, str) or not SHA256.match(digest):
            raise BadRequestError(f"assets[{index}].sha256 must be 64 lowercase hex digits", code="invalid_assets")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= settings.ASSET_MAX_BYTES:
            raise BadRequestError(
                f"assets[{index}].size must be 1..{settings.ASSET_MAX_BYTES} bytes", code="invalid_assets"
            )
        if not isinstance(content_type, str) or content_type not in CONTENT_TYPES:
            raise BadRequestError(
                f"assets[{index}].type must be one of {', '.join(sorted(CONTENT_TYPES))}", code="invalid_assets"
            )
        seen[digest] = Wanted(digest, size, content_type)
    return tuple(seen.values())


def parse_hashes(body: bytes) -> list[str]:
    """``{"sha256": [<hex>, ...]}``: the assets a replay needs (400/413)."""
    data = _json(body)
    hashes = data.get("sha256") if isinstance(data, dict) else None
    if not isinstance(hashes, list) or not all(isinstance(h, str) and SHA256.match(h) for h in hashes):
        raise BadRequestError('expected {"sha256": ["<64 lowercase hex digits>", ...]}', code="invalid_assets")
    if len(hashes) > settings.ASSETS_PER_REQUEST:
        raise PayloadTooLargeError(f"at most {settings.ASSETS_PER_REQUEST} assets per request", code="too_many_assets")
    return sorted(set(hashes))


class Assets:
    """The owner's asset store in the bucket: who holds what, presigned uploads, the lease."""

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        retention_days: int | None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        workers: int = 16,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._retention_days = retention_days
        self._clock = clock
        self._workers = workers

    def missing(self, owner: str, request: AssetsRequest, charge: Callable[[int], None]) -> dict[str, Any]:
        """Which of the page's assets the owner lacks, each with its upload; held ones renew their lease.

        The question itself was admitted before (``lookup_requests``: its lookups paid for);
        ``charge`` is called with the bytes the answer lets the browser upload, before any
        upload is signed: it refuses (429) when the key's or user's byte budget is spent.
        """
        with ThreadPoolExecutor(max_workers=min(self._workers, max(1, len(request.assets)))) as pool:
            held = list(pool.map(lambda asset: self._held(owner, asset), request.assets))
        lacking = [asset for asset, present in zip(request.assets, held, strict=True) if not present]
        claimed = sum(asset.size for asset in lacking)
        if claimed > settings.ASSET_QUESTION_MAX_BYTES:
            raise PayloadTooLargeError(
                f"a question may have at most {settings.ASSET_QUESTION_MAX_BYTES} bytes uploaded "
                f"(what one page view keeps); this one lacks {claimed}",
                code="too_many_asset_bytes",
            )
        # Each upload charged on its own, like a request body: a budget goes over by one
        # asset at most (8 MiB), never by a whole answer's 300 of them.
        for asset in lacking:
            charge(asset.size)
        return {
            "missing": [{"sha256": asset.sha256, "upload": self._upload(owner, asset)} for asset in lacking],
            "held": len(request.assets) - len(lacking),
        }

    def _held(self, owner: str, asset: Wanted) -> bool:
        key = layout.asset_key(owner, asset.sha256)
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        if self._retention_days is not None:
            age = self._clock() - head["LastModified"]
            if age > dt.timedelta(days=self._retention_days / 2):
                # Renew the lease: the same bytes written again in place, server-side.
                self._s3.copy_object(
                    Bucket=self._bucket,
                    Key=key,
                    CopySource={"Bucket": self._bucket, "Key": key},
                    MetadataDirective="REPLACE",
                    ContentType=head.get("ContentType", "application/octet-stream"),
                )
        return True

    def _upload(self, owner: str, asset: Wanted) -> dict[str, Any]:
        checksum = base64.b64encode(bytes.fromhex(asset.sha256)).decode()
        url: str = self._s3.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self._bucket,
                "Key": layout.asset_key(owner, asset.sha256),
                "ContentType": asset.content_type,
                "ContentLength": asset.size,
                "ChecksumSHA256": checksum,
                "IfNoneMatch": "*",
            },
            ExpiresIn=settings.ASSET_UPLOAD_SECONDS,
        )
        # The browser sends exactly these (its Content-Length is the body's own).
        headers = {"Content-Type": asset.content_type, "x-amz-checksum-sha256": checksum, "If-None-Match": "*"}
        return {"method": "PUT", "url": url, "headers": headers, "expiresIn": settings.ASSET_UPLOAD_SECONDS}

    def presigned_reads(self, owner: str, hashes: list[str]) -> dict[str, str]:
        """Short-lived GETs of the owner's assets.

        Each is served with the type its upload's signature pinned (one of
        ``CONTENT_TYPES``, never a page), with no content encoding, and as an attachment: an image or font loads
        as one, but a link opened on its own downloads instead of rendering, so an SVG
        with a script never runs, and it would run in the bucket's origin, not the site's.
        """
        return {
            digest: self._s3.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self._bucket,
                    "Key": layout.asset_key(owner, digest),
                    "ResponseContentDisposition": "attachment",
                    # The stored bytes as they are, whatever an upload claimed: a gzip body
                    # uploaded as `Content-Encoding: gzip` would otherwise be inflated by the
                    # viewer's browser (a bomb past the size cap, bytes not those hashed).
                    "ResponseContentEncoding": "identity",
                },
                ExpiresIn=settings.ASSET_READ_SECONDS,
            )
            for digest in hashes
        }
