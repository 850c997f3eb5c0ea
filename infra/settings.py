"""Stack settings: every config key the program reads, with its default.

docs/deploy.md's "Configuration" table lists the same keys; a test keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

import pulumi

from chalicelib import settings as api_settings
from chalicelib.lifecycle import GLACIER_IR_MIN_DAYS
from chalicelib.settings import Limits
from infra.packaging import DEFAULT_ARCHITECTURE, DEFAULT_RUNTIME, LAMBDA_ARCHITECTURES, LAMBDA_RUNTIMES

# The API's own defaults: one definition, read here and by the functions.
LIMITS = Limits()
PROJECT = "rrweb-s3-storage"


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """What differs between stacks (dev, prod, pr-<n>)."""

    stack: str
    retention_days: int = 30
    # The raw archive (Firehose's copy of the stream) is off the replay path: a long
    # buffer means fewer, larger objects. Without dynamic partitioning Firehose takes
    # 0..900 s and 1..128 MB, whichever fills first.
    archive_buffer_seconds: int = 300
    archive_buffer_mb: int = 128
    # How long the raw archive is kept: the window ``make rebuild`` can restore from,
    # and the bound for a deleted recording's raw copy to leave storage.
    archive_retention_days: int = 7
    # Days after which a recording's compacted events move to S3 Glacier Instant
    # Retrieval (0: they stay in Standard). It pays where recordings are kept long and
    # old ones are seldom replayed: docs/architecture.md, "Storage classes".
    glacier_after_days: int = 0
    # The stream consumer (Lambda's event source mapping on the stream): how long it
    # gathers records before an invocation, how many batches of one shard run at once,
    # and how hard it tries before a batch goes to its failure queue.
    consumer_batching_window_seconds: int = api_settings.CONSUMER_BATCHING_WINDOW_SECONDS
    consumer_parallelization: int = 1
    # The consumer of recordings nobody watches live (docs/architecture.md, "Two
    # consumers"): a longer window gathers more of a recording's batches into one object.
    # Each of its concurrent batches per shard fills up to Lambda's 6 MB payload on its own,
    # so a long window takes a higher parallelization to stay long at volume.
    consumer_unwatched_window_seconds: int = api_settings.CONSUMER_BATCHING_WINDOW_SECONDS
    consumer_unwatched_parallelization: int = 1
    consumer_batch_size: int = api_settings.CONSUMER_BATCH_SIZE
    consumer_max_retries: int = 5
    consumer_max_record_age_seconds: int = 86400
    # Compaction: a recording idle this long becomes one object; the compactor runs
    # this often.
    compact_idle_minutes: int = api_settings.COMPACT_IDLE_SECONDS // 60
    compact_every_minutes: int = api_settings.COMPACT_EVERY_MINUTES
    # The longest a share link of a recording may live (a link asks for 7 days by default).
    share_max_days: int = api_settings.SHARE_MAX_DAYS
    # One provisioned shard (1 MB/s, 1,000 records/s: several hundred concurrent
    # recordings) costs a third of on-demand's stream-hour floor.
    kinesis_mode: str = "provisioned"
    kinesis_shards: int = 1
    kinesis_retention_hours: int = 24
    # The recorder's door (a Lambda function URL) has no stage throttle: this many
    # concurrent requests at most (reserved concurrency; 0 reserves none, and the
    # account's own concurrency is the bound). Lambda keeps 100 of the account unreserved.
    ingest_concurrency: int = 0
    throttle_rate_limit: float = 50.0
    throttle_burst_limit: int = 100
    lambda_memory_mb: int = 512
    # The recorder's door (the ``ingest`` function) on its own: a POST mostly waits on
    # DynamoDB and Kinesis, so below lambdaMemoryMb its GB-seconds fall faster than its
    # time grows (docs/cost.md, "The ingest function's memory"). 0: lambdaMemoryMb.
    ingest_memory_mb: int = 0
    # The functions' Python and processor. The bundle's compiled wheels are chosen for
    # both (infra/packaging.py packages with that Python, and refuses a bundle whose
    # wheels do not match); Graviton (arm64) bills 20% less per GB-second than x86_64.
    lambda_runtime: str = DEFAULT_RUNTIME
    lambda_architecture: str = DEFAULT_ARCHITECTURE
    log_retention_days: int = 14
    protect_data: bool = False
    versioning: bool = False
    point_in_time_recovery: bool = False
    # API Gateway writes access logs only through one CloudWatch Logs role per account and
    # region, set in the account's settings. A stack that manages it creates the role and
    # sets it, and keeps both when destroyed (every other stack of the account and region
    # logs through them); a stack that does not writes access logs only when told the role
    # is set (``api_access_logs``), since a stage asking for them fails without it.
    manage_api_gateway_account: bool = False
    api_access_logs: bool = False
    chalice_stage: str = "dev"
    # Extra origins allowed to read recordings (the stack's own site reaches the API
    # through its CloudFront distribution, same-origin, and needs no entry; it and these
    # origins may also fetch compacted event blocks straight from the bucket).
    allowed_origins: tuple[str, ...] = ()
    # Rate limits (chalicelib/limits.py): an ingest key's default budget (a key may be
    # given its own, up to keyRequestsPerMinuteMax), a signed-in user's, and the
    # per-visitor abuse limits (one recording, one client address).
    key_requests_per_minute: int = LIMITS.key_requests
    key_bytes_per_minute: int = LIMITS.key_bytes
    key_requests_per_minute_max: int = LIMITS.key_requests_max
    user_requests_per_minute: int = LIMITS.user_requests
    user_bytes_per_minute: int = LIMITS.user_bytes
    recording_requests_per_minute: int = LIMITS.recording_requests
    client_requests_per_minute: int = LIMITS.client_requests
    client_bytes_per_minute: int = LIMITS.client_bytes
    # Where alarm notifications go; without it the topic still exists, so a subscription
    # can be added by hand (or another tool) without touching the alarms.
    alarm_email: str | None = None
    # Whether anyone who finds the site may create an account (and store recordings on
    # the stack owner's bill). Off: an administrator invites people (docs/accounts.md).
    self_sign_up: bool = False
    # Who the pool's emails (invitations, password resets, sign-up codes) come from: an
    # address of an identity verified in Amazon SES in the stack's region (``sesIdentity``,
    # by default the address's domain). Unset, Cognito's built-in sender sends them, which
    # allows only a few dozen emails a day for the whole account (docs/deploy.md, "Email").
    email_from: str | None = None
    ses_identity: str | None = None
    # Whether the stack has the site (its bucket and CloudFront distribution). A new AWS
    # account is refused CloudFront resources until AWS has verified it: off, the API,
    # data and functions deploy alone and are reached at the API's own URL.
    site: bool = True

    @property
    def prefix(self) -> str:
        """Project plus stack: the start of every name, so stacks never collide."""
        return f"{PROJECT}-{self.stack}"

    @property
    def email_address(self) -> str | None:
        """The address of ``emailFrom`` (without its display name)."""
        if self.email_from is None:
            return None
        return self.email_from.rsplit("<", 1)[-1].rstrip(">")

    @property
    def email_identity(self) -> str | None:
        """The SES identity the pool sends from: ``sesIdentity``, or the domain of ``emailFrom``'s address."""
        if self.email_address is None:
            return None
        return self.ses_identity or self.email_address.rsplit("@", 1)[1]

    @property
    def access_logs(self) -> bool:
        """Whether the API's stage writes access logs: where the account's logging role is known to be set."""
        return self.manage_api_gateway_account or self.api_access_logs

    def validate(self) -> StackSettings:
        """Refuse settings AWS would refuse, before anything is created."""
        self._validate_archive()
        self._validate_consumer()
        if self.kinesis_mode not in ("on-demand", "provisioned"):
            raise ValueError("kinesisMode must be 'on-demand' or 'provisioned'")
        if self.kinesis_shards < 1 or not 24 <= self.kinesis_retention_hours <= 8760:
            raise ValueError("kinesisShards must be >= 1 and kinesisRetentionHours 24..8760")
        if self.ingest_memory_mb and not 256 <= self.ingest_memory_mb <= 10240:
            raise ValueError("ingestMemoryMb must be 0 (lambdaMemoryMb) or 256..10240 (a 4 MiB body holds 16 MiB)")
        if not 0 <= self.ingest_concurrency <= 900:
            raise ValueError("ingestConcurrency must be 0 (none reserved) .. 900 (Lambda keeps 100 unreserved)")
        if self.retention_days < 1:
            raise ValueError("retentionDays must be >= 1")
        if self.glacier_after_days and not (
            self.glacier_after_days >= 1 and self.glacier_after_days + GLACIER_IR_MIN_DAYS <= self.retention_days
        ):
            raise ValueError(
                f"glacierAfterDays must be 0 (off) or at least 1 and at most retentionDays - {GLACIER_IR_MIN_DAYS}: "
                f"Glacier Instant Retrieval bills {GLACIER_IR_MIN_DAYS} days per object, so an object expiring "
                "sooner would cost more there than in Standard"
            )
        if not 1 <= self.archive_retention_days <= self.retention_days:
            raise ValueError(
                "archiveRetentionDays must be 1..retentionDays (the archive holds the same events: "
                "keeping it longer would keep recordings past their retention)"
            )
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
                self.recording_requests_per_minute,
                self.client_requests_per_minute,
                self.client_bytes_per_minute,
            )
            < 1
        ):
            raise ValueError("rate limits must be >= 1")
        if self.key_requests_per_minute_max < self.key_requests_per_minute:
            raise ValueError("keyRequestsPerMinuteMax must be >= keyRequestsPerMinute")
        if self.alarm_email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.alarm_email):
            raise ValueError("alarmEmail must be one email address")
        if self.email_from is not None and not _EMAIL_FROM.fullmatch(self.email_from):
            raise ValueError(
                'emailFrom must be an address, optionally with a name: "Recordings <no-reply@example.com>"'
            )
        if self.ses_identity is not None and self.email_from is None:
            raise ValueError("sesIdentity is the identity emailFrom's address belongs to: set emailFrom too")
        if self.ses_identity is not None and not _sends_as(self.ses_identity, self.email_address or ""):
            raise ValueError(
                "sesIdentity must be emailFrom's address, its domain or a parent domain: SES sends only as its identity"
            )
        if self.lambda_runtime not in LAMBDA_RUNTIMES:
            raise ValueError(f"lambdaRuntime must be one of {', '.join(LAMBDA_RUNTIMES)}")
        if self.lambda_architecture not in LAMBDA_ARCHITECTURES:
            raise ValueError(f"lambdaArchitecture must be one of {', '.join(LAMBDA_ARCHITECTURES)}")
        if self.chalice_stage not in ("dev", "prod"):
            raise ValueError("chaliceStage must be a stage of api/.chalice/config.json: dev or prod")
        return self

    def _validate_archive(self) -> None:
        if not 0 <= self.archive_buffer_seconds <= 900:
            raise ValueError("archiveBufferSeconds must be 0..900 (Firehose's buffer interval)")
        if not 1 <= self.archive_buffer_mb <= 128:
            raise ValueError("archiveBufferMb must be 1..128 (Firehose's buffer size)")

    def _validate_consumer(self) -> None:
        # Lambda's limits for a Kinesis event source mapping.
        if not 0 <= self.consumer_batching_window_seconds <= 300:
            raise ValueError("consumerBatchingWindowSeconds must be 0..300")
        if not 1 <= self.consumer_parallelization <= 10:
            raise ValueError("consumerParallelization must be 1..10 (concurrent batches per shard)")
        if not self.consumer_batching_window_seconds <= self.consumer_unwatched_window_seconds <= 300:
            raise ValueError("consumerUnwatchedWindowSeconds must be consumerBatchingWindowSeconds..300")
        if not 1 <= self.consumer_unwatched_parallelization <= 10:
            raise ValueError("consumerUnwatchedParallelization must be 1..10 (concurrent batches per shard)")
        if not 1 <= self.consumer_batch_size <= 10000:
            raise ValueError("consumerBatchSize must be 1..10000")
        if not 0 <= self.consumer_max_retries <= 10000:
            raise ValueError("consumerMaxRetries must be 0..10000")
        if not 60 <= self.consumer_max_record_age_seconds <= 604800:
            raise ValueError("consumerMaxRecordAgeSeconds must be 60..604800")
        # A record the stream drops before Lambda gives up on it is lost without a
        # trace in the failure queue.
        if self.consumer_max_record_age_seconds > self.kinesis_retention_hours * 3600:
            raise ValueError("consumerMaxRecordAgeSeconds must not exceed kinesisRetentionHours (in seconds)")
        if self.compact_idle_minutes < 5:
            raise ValueError("compactIdleMinutes must be >= 5 (a recording that pauses must not be compacted)")
        if not 1 <= self.compact_every_minutes <= 60:
            raise ValueError("compactEveryMinutes must be 1..60")
        if not 1 <= self.share_max_days <= 365:
            raise ValueError("shareMaxDays must be 1..365")

    @classmethod
    def from_config(cls, config: pulumi.Config, stack: str) -> StackSettings:
        """Read the stack's config (Pulumi.<stack>.yaml) over the defaults.

        Each field is read under its ``config_key`` with the getter its type calls for, so a
        new field is a new config key with nothing else to write.
        """
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name == "stack":
                continue
            key = config_key(field.name)
            kind = hints[field.name]
            if kind == tuple[str, ...]:
                listed = config.get_object(key)
                if listed is not None:
                    values[field.name] = tuple(listed)
            elif kind == str | None:
                # An empty string in the YAML means "not set".
                values[field.name] = config.get(key) or None
            else:
                value = getattr(config, _GETTERS[kind])(key)
                if value is not None:
                    values[field.name] = value
        return cls(stack=stack, **values).validate()

    @classmethod
    def from_stack_file(cls, root: Path, stack: str) -> StackSettings:
        """``Pulumi.<stack>.yaml`` in ``root`` over the defaults, read as the program reads it (none: the defaults)."""
        return cls.from_config(StackFile.read(root, stack), stack)  # type: ignore[arg-type]  # the getters it calls

    def data_options(self, parent: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options for resources that hold recordings: prod keeps them on destroy."""
        return pulumi.ResourceOptions(parent=parent, protect=self.protect_data, retain_on_delete=self.protect_data)


# An address, or a display name and the address in angle brackets (a name with SES's
# special characters would need quoting: none is allowed here).
_ADDRESS = r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+"
_EMAIL_FROM = re.compile(rf"[^<>@\r\n\",;]+ <{_ADDRESS}>|{_ADDRESS}")


def _sends_as(identity: str, address: str) -> bool:
    """Whether SES may send as ``address`` from ``identity``: the address itself, its domain or a parent domain."""
    domain = address.rsplit("@", 1)[-1].lower()
    identity = identity.lower()
    return identity == address.lower() or domain == identity or domain.endswith("." + identity)


def config_key(field_name: str) -> str:
    """The config key of a ``StackSettings`` field: ``retention_days`` is ``retentionDays``."""
    head, *rest = field_name.split("_")
    return head + "".join(part.title() for part in rest)


# The ``pulumi.Config`` getter ``from_config`` reads a field of each scalar type with.
_GETTERS: dict[object, str] = {int: "get_int", float: "get_float", bool: "get_bool", str: "get"}

# Every key the program reads: one per field (the stack's name comes from Pulumi, not
# its config). docs/deploy.md's "Configuration" table lists exactly these.
CONFIG_KEYS = tuple(config_key(f.name) for f in fields(StackSettings) if f.name != "stack")


class StackFile:
    """A stack's ``Pulumi.<stack>.yaml`` values, answering the getters ``StackSettings.from_config`` calls as
    ``pulumi.Config`` does (values are strings there; YAML may give numbers), so tools outside the program
    (the cost model, the preflight) read the same keys with the same defaults as the program."""

    def __init__(self, values: dict[str, Any], region: str | None = None) -> None:
        self.values = values
        self.region = region

    @classmethod
    def read(cls, root: Path, stack: str) -> StackFile:
        """The project's keys and ``aws:region`` of ``root/Pulumi.<stack>.yaml`` (a stack without one: none)."""
        import yaml  # only tools outside the program read stack files

        path = root / f"Pulumi.{stack}.yaml"
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {} if path.exists() else {}
        values = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{PROJECT}:")}
        region = config.get("aws:region")
        return cls(values, None if region is None else str(region))

    def get(self, key: str) -> str | None:
        """The value as text, or None when unset."""
        value = self.values.get(key)
        return None if value is None else str(value)

    def get_int(self, key: str) -> int | None:
        """The value as an integer, or None when unset."""
        value = self.get(key)
        return None if value is None else int(value)

    def get_float(self, key: str) -> float | None:
        """The value as a number, or None when unset."""
        value = self.get(key)
        return None if value is None else float(value)

    def get_bool(self, key: str) -> bool | None:
        """The value as true or false (anything else refused), or None when unset."""
        value = self.get(key)
        if value is None:
            return None
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{key} must be true or false, not {value!r}")
        return value.lower() == "true"

    def get_object(self, key: str) -> Any:
        """The value as YAML gave it (lists), or None when unset."""
        return self.values.get(key)
