"""AWS clients and the domain objects built on them, created lazily once per process.

Nothing here runs at import time: a Lambda cold start pays only for what a route
uses, and tests can enter moto's ``mock_aws`` before the first client exists.
``AWS_ENDPOINT_URL`` (read by boto3 itself) points every client at the local stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from .accounts import Accounts
from .archive import Archive
from .assets import Assets
from .auth import Authenticator
from .comments import Comments
from .compaction import Compactor
from .consumer import FailureQueue, StreamConsumer
from .cors import CorsPolicy
from .ingest import EventWriter, Ingest
from .keys import Keys
from .limits import RateLimiter
from .reader import EventReader, Reader
from .recording_table import COUNTED_MARKS, RecordingTable
from .recordings import Recordings
from .retention import Expiry
from .settings import SHARE_REQUESTS_PER_ADDRESS, get_settings
from .shares import Shares
from .tokens import TokenVerifier
from .workspaces import Workspaces

# The reader fetches chunk objects concurrently; the pool must be as wide as that.
_READ_CONCURRENCY = 32


@dataclass(frozen=True, kw_only=True)
class Services:
    """Everything the routes and functions need, wired to the stack's resources."""

    recordings: Recordings
    assets: Assets
    metadata: RecordingTable
    writer: EventWriter
    events: EventReader
    ingest: Ingest
    reader: Reader
    # The stream's two consumers: records of unwatched recordings, and of watched ones.
    consumer: StreamConsumer
    watched_consumer: StreamConsumer
    compactor: Compactor
    archive: Archive
    keys: Keys
    workspaces: Workspaces
    expiry: Expiry
    shares: Shares
    comments: Comments
    authenticator: Authenticator
    accounts: Accounts
    s3: Any
    dynamodb: Any


@lru_cache(maxsize=1)
def get_services() -> Services:
    """The process-wide services (cached: boto3 clients are costly to build)."""
    config = get_settings()
    session = boto3.session.Session(region_name=config.region)
    client_config = Config(
        max_pool_connections=_READ_CONCURRENCY,
        retries={"mode": "standard", "max_attempts": 3},
        # Presigned URLs carry SigV4; a loopback endpoint has no bucket subdomains.
        signature_version="s3v4",
        s3={"addressing_style": "path" if config.endpoint else "virtual"},
    )
    s3 = session.client("s3", config=client_config)
    dynamodb = session.resource("dynamodb", config=client_config)
    metadata = RecordingTable(table=dynamodb.Table(config.table))
    access = dynamodb.Table(config.access_table)
    keys = Keys(table=access, limits=config.limits)
    workspaces = Workspaces(table=access)
    recordings = Recordings(
        table=metadata,
        s3=s3,
        bucket=config.bucket,
        retention_days=config.retention_days,
        unwatched_window_seconds=config.unwatched_window_seconds,
    )
    writer = EventWriter(kinesis=session.client("kinesis", config=client_config), stream=config.stream)
    events = EventReader(s3=s3, bucket=config.bucket, workers=_READ_CONCURRENCY)
    assets = Assets(s3=s3, bucket=config.bucket, retention_days=config.retention_days)
    reader = Reader(recordings=recordings, table=metadata, events=events)
    failures = FailureQueue(sqs=session.client("sqs", config=client_config), queue_url=config.failure_queue_url)
    return Services(
        recordings=recordings,
        assets=assets,
        metadata=metadata,
        writer=writer,
        events=events,
        ingest=Ingest(recordings=recordings, table=metadata, writer=writer),
        reader=reader,
        consumer=StreamConsumer(
            s3=s3,
            bucket=config.bucket,
            table=metadata,
            failures=failures,
        ),
        watched_consumer=StreamConsumer(
            s3=s3,
            bucket=config.bucket,
            table=metadata,
            failures=failures,
            mark=COUNTED_MARKS[1],
        ),
        compactor=Compactor(
            s3=s3, bucket=config.bucket, table=metadata, reader=events, idle_seconds=config.compact_idle_seconds
        ),
        archive=Archive(s3=s3, bucket=config.bucket, table=metadata),
        keys=keys,
        workspaces=workspaces,
        expiry=Expiry(workspaces=workspaces, recordings=recordings, table=metadata),
        shares=Shares(
            table=access,
            recordings=recordings,
            reader=reader,
            assets=assets,
            max_days=config.share_max_days,
            requests_per_address=SHARE_REQUESTS_PER_ADDRESS,
        ),
        comments=Comments(s3=s3, bucket=config.bucket, recordings=recordings),
        authenticator=Authenticator(
            verifier=TokenVerifier(
                issuer=config.issuer, client_id=config.user_pool_client_id, jwks_url=config.jwks_url
            ),
            keys=keys,
            limiter=RateLimiter(table=access),
            limits=config.limits,
            workspaces=workspaces,
            origin_secret=config.origin_secret,
        ),
        accounts=Accounts(
            cognito=session.client("cognito-idp", config=client_config),
            client_id=config.user_pool_client_id,
            requests_per_client=config.limits.auth_requests,
            user_pool_id=config.user_pool_id,
        ),
        s3=s3,
        dynamodb=dynamodb,
    )


@lru_cache(maxsize=1)
def get_cors() -> CorsPolicy:
    """The CORS policy of the configured site origins."""
    return CorsPolicy(get_settings().allowed_origins)
