"""Stack settings: every config key the program reads, with its default.

README's "Configuration" table lists the same keys; a test keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

PROJECT = "rrweb-s3-storage"


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """What differs between stacks (dev, prod, pr-<n>)."""

    stack: str
    retention_days: int = 30
    live_chunk_expiry_days: int = 1
    firehose_buffer_seconds: int = 60
    firehose_buffer_mb: int = 64
    # One provisioned shard (1 MB/s, 1,000 records/s: several hundred concurrent
    # recordings) costs a third of on-demand's stream-hour floor.
    kinesis_mode: str = "provisioned"
    kinesis_shards: int = 1
    kinesis_retention_hours: int = 24
    throttle_rate_limit: float = 50.0
    throttle_burst_limit: int = 100
    lambda_memory_mb: int = 512
    log_retention_days: int = 14
    protect_data: bool = False
    versioning: bool = False
    point_in_time_recovery: bool = False
    manage_api_gateway_account: bool = False
    chalice_stage: str = "dev"
    # Extra origins allowed to read recordings (the stack's own site reaches the API
    # through its CloudFront distribution, same-origin, and needs no entry).
    allowed_origins: tuple[str, ...] = ()
    key_requests_per_minute: int = 600
    key_bytes_per_minute: int = 64 * 1024 * 1024
    user_requests_per_minute: int = 1200
    user_bytes_per_minute: int = 128 * 1024 * 1024
    # Where alarm notifications go; without it the topic still exists, so a subscription
    # can be added by hand (or another tool) without touching the alarms.
    alarm_email: str | None = None

    @property
    def prefix(self) -> str:
        """Project plus stack: the start of every name, so stacks never collide."""
        return f"{PROJECT}-{self.stack}"

    def validate(self) -> StackSettings:
        """Refuse settings AWS would refuse, before anything is created."""
        if not 60 <= self.firehose_buffer_seconds <= 900:
            raise ValueError("firehoseBufferSeconds must be 60..900 (dynamic partitioning has no zero buffering)")
        if not 64 <= self.firehose_buffer_mb <= 128:
            raise ValueError("firehoseBufferMb must be 64..128 (dynamic partitioning needs at least 64)")
        if self.kinesis_mode not in ("on-demand", "provisioned"):
            raise ValueError("kinesisMode must be 'on-demand' or 'provisioned'")
        if self.kinesis_shards < 1 or not 24 <= self.kinesis_retention_hours <= 8760:
            raise ValueError("kinesisShards must be >= 1 and kinesisRetentionHours 24..8760")
        if self.retention_days < 1 or self.live_chunk_expiry_days < 1:
            raise ValueError("retentionDays and liveChunkExpiryDays must be >= 1")
        if any(
            not origin.startswith(("https://", "http://localhost", "http://127.0.0.1"))
            for origin in self.allowed_origins
        ):
            raise ValueError("allowedOrigins must be https:// origins (or http://localhost for development)")
        if (
            min(
                self.key_requests_per_minute,
                self.key_bytes_per_minute,
                self.user_requests_per_minute,
                self.user_bytes_per_minute,
            )
            < 1
        ):
            raise ValueError("rate limits must be >= 1")
        if self.alarm_email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.alarm_email):
            raise ValueError("alarmEmail must be one email address")
        if self.chalice_stage not in ("dev", "prod"):
            raise ValueError("chaliceStage must be a stage of api/.chalice/config.json: dev or prod")
        return self

    @classmethod
    def from_config(cls, config: pulumi.Config, stack: str) -> StackSettings:
        """Read the stack's config (Pulumi.<stack>.yaml) over the defaults."""
        defaults = cls(stack=stack)

        def pick(key: str, getter: str) -> object:
            value = getattr(config, getter)(key)
            return getattr(defaults, _snake(key)) if value is None else value

        return cls(
            stack=stack,
            retention_days=pick("retentionDays", "get_int"),
            live_chunk_expiry_days=pick("liveChunkExpiryDays", "get_int"),
            firehose_buffer_seconds=pick("firehoseBufferSeconds", "get_int"),
            firehose_buffer_mb=pick("firehoseBufferMb", "get_int"),
            kinesis_mode=pick("kinesisMode", "get"),
            kinesis_shards=pick("kinesisShards", "get_int"),
            kinesis_retention_hours=pick("kinesisRetentionHours", "get_int"),
            throttle_rate_limit=pick("throttleRateLimit", "get_float"),
            throttle_burst_limit=pick("throttleBurstLimit", "get_int"),
            lambda_memory_mb=pick("lambdaMemoryMb", "get_int"),
            log_retention_days=pick("logRetentionDays", "get_int"),
            protect_data=pick("protectData", "get_bool"),
            versioning=pick("versioning", "get_bool"),
            point_in_time_recovery=pick("pointInTimeRecovery", "get_bool"),
            manage_api_gateway_account=pick("manageApiGatewayAccount", "get_bool"),
            chalice_stage=pick("chaliceStage", "get"),
            allowed_origins=tuple(config.get_object("allowedOrigins") or ()),
            key_requests_per_minute=pick("keyRequestsPerMinute", "get_int"),
            key_bytes_per_minute=pick("keyBytesPerMinute", "get_int"),
            user_requests_per_minute=pick("userRequestsPerMinute", "get_int"),
            user_bytes_per_minute=pick("userBytesPerMinute", "get_int"),
            alarm_email=config.get("alarmEmail") or None,
        ).validate()

    def data_options(self, parent: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options for resources that hold recordings: prod keeps them on destroy."""
        return pulumi.ResourceOptions(parent=parent, protect=self.protect_data, retain_on_delete=self.protect_data)


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


CONFIG_KEYS = (
    "retentionDays",
    "liveChunkExpiryDays",
    "firehoseBufferSeconds",
    "firehoseBufferMb",
    "kinesisMode",
    "kinesisShards",
    "kinesisRetentionHours",
    "throttleRateLimit",
    "throttleBurstLimit",
    "lambdaMemoryMb",
    "logRetentionDays",
    "protectData",
    "versioning",
    "pointInTimeRecovery",
    "manageApiGatewayAccount",
    "chaliceStage",
    "allowedOrigins",
    "keyRequestsPerMinute",
    "keyBytesPerMinute",
    "userRequestsPerMinute",
    "userBytesPerMinute",
    "alarmEmail",
)
