"""Runtime settings: the only place that reads the process environment.

Resource names reach the functions as environment variables (set by the Pulumi
program on AWS and by the local stack on one machine); limits are constants here so
the API, the OpenAPI document and the README quote the same numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

# Request bodies as sent (compressed or not). API Gateway hands a binary body to
# Lambda base64-encoded inside a 6 MB invocation payload, so 4 MiB is the most that
# safely fits.
MAX_BODY_BYTES = 4 * 1024 * 1024
# An event batch once inflated. Large enough for a long page's full snapshot with
# inlined stylesheets; a gzip body is cut off while inflating past it.
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_EVENTS_PER_BATCH = 20_000
# JavaScript's Number.MAX_SAFE_INTEGER: the recorder counts batches in JS.
MAX_SEQ = 2**53 - 1
# A Kinesis record holds at most 1 MiB (data plus partition key). Each part carries
# this many compressed payload bytes, which base64 grows by 4/3, leaving room for
# the JSON header of the line.
MAX_PART_PAYLOAD_BYTES = 700 * 1024
# Bytes of one /events response body as sent. Binary responses travel base64 in
# Lambda's 6 MB synchronous response, so 3 MiB keeps well clear of that cap.
MAX_PAGE_BYTES = 3 * 1024 * 1024
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 200
SCREENSHOT_MAX_BYTES = 2 * 1024 * 1024
PRESIGN_SECONDS = 900


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Names of the stack's resources and the acting owner."""

    bucket: str
    table: str
    stream: str
    default_owner: str
    region: str
    # Set only on the local stack (boto3 reads it too); None on AWS.
    endpoint: str | None
    # Days a recording is kept (its events expire by bucket lifecycle, its item by
    # DynamoDB TTL); None keeps recordings until deleted.
    retention_days: int | None


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process (a Lambda container or the local stack)."""
    return Settings(
        bucket=_require("RRWEB_BUCKET"),
        table=_require("RRWEB_TABLE"),
        stream=_require("RRWEB_STREAM"),
        default_owner=os.environ.get("RRWEB_DEFAULT_OWNER", "default").strip() or "default",
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint=os.environ.get("AWS_ENDPOINT_URL") or None,
        retention_days=int(os.environ["RRWEB_RETENTION_DAYS"]) if os.environ.get("RRWEB_RETENTION_DAYS") else None,
    )
