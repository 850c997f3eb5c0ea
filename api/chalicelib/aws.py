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
from .auth import Authenticator
from .cors import CorsPolicy
from .events import EventReader, EventWriter
from .keys import Keys
from .limits import RateLimiter
from .recordings import Recordings, RecordingStore
from .settings import get_settings
from .tokens import TokenVerifier

# The reader fetches chunk objects concurrently; the pool must be as wide as that.
_READ_CONCURRENCY = 32


@dataclass(frozen=True, kw_only=True)
class Store:
    """Everything the routes need, wired to the stack's resources."""

    recordings: Recordings
    metadata: RecordingStore
    writer: EventWriter
    reader: EventReader
    keys: Keys
    authenticator: Authenticator
    accounts: Accounts
    s3: Any
    dynamodb: Any


@lru_cache(maxsize=1)
def get_store() -> Store:
    """The process-wide store (cached: boto3 clients are costly to build)."""
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
    metadata = RecordingStore(table=dynamodb.Table(config.table))
    access = dynamodb.Table(config.access_table)
    keys = Keys(table=access)
    return Store(
        recordings=Recordings(store=metadata, s3=s3, bucket=config.bucket, retention_days=config.retention_days),
        metadata=metadata,
        writer=EventWriter(kinesis=session.client("kinesis", config=client_config), stream=config.stream),
        reader=EventReader(s3=s3, bucket=config.bucket, workers=_READ_CONCURRENCY),
        keys=keys,
        authenticator=Authenticator(
            verifier=TokenVerifier(
                issuer=config.issuer, client_id=config.user_pool_client_id, jwks_url=config.jwks_url
            ),
            keys=keys,
            limiter=RateLimiter(table=access),
            limits=config.limits,
        ),
        accounts=Accounts(
            cognito=session.client("cognito-idp", config=client_config), client_id=config.user_pool_client_id
        ),
        s3=s3,
        dynamodb=dynamodb,
    )


@lru_cache(maxsize=1)
def get_cors() -> CorsPolicy:
    """The CORS policy of the configured site origins."""
    return CorsPolicy(get_settings().allowed_origins)
