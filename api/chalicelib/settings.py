"""Runtime settings: the only place that reads the process environment.

Resource names reach the functions as environment variables (set by the Pulumi
program on AWS and by the local stack on one machine); limits are constants here so
the API, the OpenAPI document and docs/accounts.md quote the same numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import TypedDict

from . import environment

# Request bodies as sent (compressed or not). API Gateway hands a binary body to
# Lambda base64-encoded inside a 6 MB invocation payload, so 4 MiB is the most that
# safely fits.
MAX_BODY_BYTES = 4 * 1024 * 1024
# An event batch once inflated. Large enough for a long page's full snapshot with
# inlined stylesheets; a gzip body is cut off while inflating past it.
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_EVENTS_PER_BATCH = 20_000
# A gzip body may be several members (each flush of a stream compressor is one); the
# recorder sends one. More than this is not a real client.
MAX_GZIP_MEMBERS = 64
# Batches one recording may hold, counted by the stream consumer (so it takes effect
# seconds late): 30,000 is over 40 hours at one batch every 5 s. It bounds one
# recording's compacted object and reads; past it, the recording is full (409).
MAX_BATCHES_PER_RECORDING = 30_000
# Escaped UTF-16 surrogates (pairs included) a body with a lone one may hold and still
# be repaired (each lone half becomes U+FFFD). Browsers write a lone half only where text
# was cut inside an emoji, and write valid pairs as UTF-8: a real batch holds a few.
MAX_SURROGATE_ESCAPES = 10_000
# Bodies of the small JSON routes (sign-in, keys, ...): far below the ingest limits,
# so the public routes cannot be made to parse megabytes.
MAX_SMALL_BODY_BYTES = 64 * 1024
# How long a deleted recording's tombstone keeps its id taken: longer than the stream's
# retention (24 h) and the consumers' retries, so no record of the deleted recording can
# still be on its way when a recording with the same id could be made again.
TOMBSTONE_SECONDS = 2 * 24 * 3600
# Event timestamps are milliseconds (rrweb uses Date.now()): at least 1, at most
# JavaScript's largest safe integer, so each is finite and DynamoDB stores the span
# exactly (no underflow below 1e-130, no overflow above 9.9e125).
# JSON nesting always accepted: two levels per DOM level in an rrweb snapshot, so a page
# 2,000 elements deep. Somewhat deeper is refused (400 too_deep) at the interpreter's
# recursion limit, which validation raises to this plus 1,000.
MAX_JSON_DEPTH = 4000
MIN_TIMESTAMP = 1
MAX_TIMESTAMP = 2**53 - 1
# JavaScript's Number.MAX_SAFE_INTEGER: the recorder counts batches in JS.
MAX_SEQ = 2**53 - 1
# A Kinesis record holds at most 1 MiB (data plus partition key). Each part carries
# this many compressed payload bytes, which base64 grows by 4/3, leaving room for
# the JSON header of the line.
MAX_PART_PAYLOAD_BYTES = 700 * 1024
# Bytes of one /events response body as sent. Binary responses travel base64 in
# Lambda's 6 MB synchronous response, so 3 MiB keeps well clear of that cap.
MAX_PAGE_BYTES = 3 * 1024 * 1024
# Live tail. A recording is "live" while its last batch is this recent; the replay page
# follows it until it is not. A watcher's poll marks the recording watched for
# WATCH_SECONDS (written at most every WATCH_REFRESH_SECONDS), and while it is, ingest
# responses tell the recorder to flush every LIVE_FLUSH_MS instead of its own interval: a
# second, since the flush is the largest share of click-to-screen (bench.browser), and only
# a watched recording pays its 60 requests a minute
# (the recorder's liveFlushMs default, from site/src/generated/limits.json).
LIVE_IDLE_MS = 60_000
WATCH_SECONDS = 30
WATCH_REFRESH_SECONDS = 15
LIVE_FLUSH_MS = 1000
# Compaction: recordings idle this long become one object. Idle recordings are found
# through a sparse index whose partition key is one of this many shards (never one
# hot partition, docs/scaling.md); the compactor reads them all.
COMPACT_IDLE_SECONDS = 1800
COMPACTION_SHARDS = 64
# The stream consumer's and the compactor's schedules as the app declares them: the
# defaults of the stack's consumerBatchSize, consumerBatchingWindowSeconds and
# compactEveryMinutes, which its event source mapping and schedule rule then set.
CONSUMER_BATCH_SIZE = 500
CONSUMER_BATCHING_WINDOW_SECONDS = 1
COMPACT_EVERY_MINUTES = 5
# The retention expiry's timeout (api/.chalice/config.json's ``expire_recordings``): a
# run stops starting deletions while it has less than its margin of it left.
EXPIRY_TIMEOUT_SECONDS = 300
# The longest retention a workspace may choose on a stack that keeps recordings forever.
MAX_RETENTION_DAYS = 3650
# The index's sort key (``activeAt``) moves at most this often per recording: an index
# write every few minutes of a recording instead of one per chunk. The compactor checks
# the item's own ``updatedAt`` before it compacts, so this only delays finding idle
# recordings by at most this long.
ACTIVE_REFRESH_SECONDS = 300
# Parts of a batch whose other parts never came: a write the stream refused in part
# (its client got a 503, never an acknowledgement) and that no retry completed. Once
# they are older than Lambda's longest record age (consumerMaxRecordAgeSeconds is at
# most 7 days), no missing part can still arrive, and compaction stops waiting for them.
ABANDONED_PARTS_SECONDS = 7 * 24 * 3600
# A compacted object is a sequence of gzip members, each about this many bytes of
# JSON lines, so a reader can fetch (and inflate) any member alone by byte range.
COMPACTED_BLOCK_BYTES = 1024 * 1024
# Presigned block URLs are short-lived: the replay page fetches them at once.
BLOCK_URL_SECONDS = 300
# Blocks one GET /blocks answer lists; its ``next`` cursor asks for the following ones.
# The answer carries the presigned URL once and, per block, only its byte range and
# event count: at most about 80 bytes with every number at 2**53, so 1,000 blocks (about
# 1 GiB of JSON lines) stay under 100 KB, far below MAX_PAGE_BYTES and Lambda's 6 MB,
# however many blocks the recording has (a full one has tens of thousands).
BLOCKS_PER_RESPONSE = 1000
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 200
# A filtered list (``q``, ``user``, durations, ``errors``) reads the owner's index entries
# newest first and keeps the items that match: one call examines at most this many
# entries (one Query and up to three BatchGetItem), then answers with what matched and
# a cursor, so a rare match costs pages, never an unbounded call. A ``from``/``to``
# range is the index's key condition and costs nothing extra.
LIST_SCAN_ENTRIES = 300
MAX_SEARCH_LENGTH = 200
# Sessions: a recording's page views (each {url, title, at}) are kept for the first
# this many, and while they hold at most MAX_PAGES_BYTES of url and title; ``pageCount``
# counts them all. The byte bound keeps the item far below DynamoDB's 400 KB (50 pages
# of 2,048-character URLs would not fit) and every write to it cheap: an update costs a
# write unit per KB of the item, and the consumer updates it once per invocation.
MAX_PAGES = 50
MAX_PAGES_BYTES = 16 * 1024
# A page view's url (and referrer) and title as a create carries them; the recorder cuts
# them to these lengths before sending.
MAX_URL_LENGTH = 2048
MAX_TITLE_LENGTH = 512
MAX_VIEWPORT_PIXELS = 100_000
# Who the visitor is (``identify()``): an id, and traits of bounded shape and size.
MAX_USER_ID_LENGTH = 256
MAX_TRAITS = 50
MAX_TRAIT_KEY_LENGTH = 64
MAX_TRAIT_VALUE_LENGTH = 512
MAX_TRAITS_BYTES = 4096
SCREENSHOT_MAX_BYTES = 2 * 1024 * 1024
PRESIGN_SECONDS = 900
# Page assets (``assets.py``): one question per page names at most ASSETS_PER_REQUEST
# of them (a page's images, fonts and large stylesheets), each at most ASSET_MAX_BYTES
# (larger ones keep their URL and are fetched from the site at replay, as before).
ASSETS_PER_REQUEST = 300
# A question costs the stack a HeadObject per asset (about a tenth of an API Gateway
# request's price each): it weighs one request against the key's budget per this many
# assets, charged before any lookup, so a spent budget costs no S3 call.
ASSET_LOOKUPS_PER_REQUEST = 10
ASSETS_REQUEST_MAX_BYTES = 64 * 1024
ASSET_MAX_BYTES = 8 * 1024 * 1024
# The most one question may have uploaded (the recorder's assetPageBytes: what one page
# view keeps at most). A question lacking more is refused whole, charging nothing: its
# bytes are only claimed, so without a cap a few KB could spend a key's whole upload budget.
ASSET_QUESTION_MAX_BYTES = 32 * 1024 * 1024
# A presigned upload is used at once; a read serves one replay's loading.
ASSET_UPLOAD_SECONDS = 300
ASSET_READ_SECONDS = 900
# Share links (``shares.py``): the longest a link may live (a stack setting,
# shareMaxDays), and what one client address may ask of the public share routes a minute.
SHARE_MAX_DAYS = 30
# Recordings one bulk or person delete takes per request (each its own delete).
DELETE_BATCH = 50
SHARE_REQUESTS_PER_ADDRESS = 600


# Key cache: how long a verified ingest key is trusted before it is read again, so a
# revocation takes effect everywhere within this many seconds.
KEY_CACHE_SECONDS = 5
# A key's use is noted on its item (lastUsedAt, for the keys page) at most this often per
# key in one function instance, and a revoked key's refusal at most once a minute: a
# flood with a key costs a bounded number of writes.
KEY_USE_NOTE_SECONDS = 300
# How long a browser may keep a key's recording controls (GET /controls, Cache-Control):
# a change made in the site reaches a visitor's next page within this.
CONTROLS_MAX_AGE_SECONDS = 300
KEY_REFUSAL_NOTE_SECONDS = 60
MAX_KEYS_PER_OWNER = 20
# Key creations per owner per window, revoked keys included; exact, like the active
# keys, however many creations run at once (``keys.py``: a counter item per owner).
MAX_KEYS_CREATED_PER_WINDOW = 30
KEY_CREATION_WINDOW_S = 24 * 3600


# Characters Cognito counts as symbols in a password.
_PASSWORD_SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")


@dataclass(frozen=True, kw_only=True)
class PasswordPolicy:
    """The user pool's password rules: one definition for the pool (Pulumi, the local stack) and the API's answer."""

    min_length: int = 12
    require_lowercase: bool = True
    require_uppercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = False

    def rules(self) -> str:
        """The rules in words, for a person choosing a password."""
        wanted = [
            name
            for name, required in (
                ("a lowercase letter", self.require_lowercase),
                ("an uppercase letter", self.require_uppercase),
                ("a number", self.require_numbers),
                ("a symbol", self.require_symbols),
            )
            if required
        ]
        rules = f"at least {self.min_length} characters"
        if wanted:
            rules += ", with " + (", ".join(wanted[:-1]) + " and " + wanted[-1] if len(wanted) > 1 else wanted[0])
        return rules

    def allows(self, password: str) -> bool:
        """Whether a password meets the rules, as Cognito checks them (Latin letters, digits, its symbols)."""
        return (
            len(password) >= self.min_length
            and (not self.require_lowercase or any("a" <= c <= "z" for c in password))
            and (not self.require_uppercase or any("A" <= c <= "Z" for c in password))
            and (not self.require_numbers or any("0" <= c <= "9" for c in password))
            and (not self.require_symbols or any(c in _PASSWORD_SYMBOLS for c in password))
        )

    def cognito(self) -> dict[str, int | bool]:
        """The policy as Cognito's API takes it (``CreateUserPool(Policies={"PasswordPolicy": ...})``)."""
        return {
            "MinimumLength": self.min_length,
            "RequireLowercase": self.require_lowercase,
            "RequireUppercase": self.require_uppercase,
            "RequireNumbers": self.require_numbers,
            "RequireSymbols": self.require_symbols,
        }

    def pulumi(self) -> PulumiPasswordPolicy:
        """The policy as ``aws.cognito.UserPool(password_policy=...)`` takes it."""
        return {
            "minimum_length": self.min_length,
            "require_lowercase": self.require_lowercase,
            "require_uppercase": self.require_uppercase,
            "require_numbers": self.require_numbers,
            "require_symbols": self.require_symbols,
        }


class PulumiPasswordPolicy(TypedDict):
    """``PasswordPolicy.pulumi()``'s keys: a subset of pulumi-aws' ``UserPoolPasswordPolicyArgsDict``."""

    minimum_length: int
    require_lowercase: bool
    require_uppercase: bool
    require_numbers: bool
    require_symbols: bool


PASSWORD_POLICY = PasswordPolicy()


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Request budgets per minute: the defaults of every stack, read by the Pulumi program too.

    Site-wide budgets (``limits.RateLimiter``): an ingest key's requests and bytes as
    sent (a key may carry its own, up to ``key_requests_max``), and a signed-in user's.
    Per-visitor abuse limits (``limits.VisitorLimits``): requests per recording, and
    requests and bytes per client address.
    """

    # One key serves a whole site: 12 batches a minute per visitor (a batch every 5 s)
    # makes 60,000 a minute 5,000 concurrent visitors; the recorder's default 10 s
    # flush, 10,000.
    key_requests: int = 60_000
    key_bytes: int = 2 * 1024 * 1024 * 1024
    # What a key may be given at creation (and the stack's stage throttle must carry).
    key_requests_max: int = 600_000
    user_requests: int = 1200
    user_bytes: int = 128 * 1024 * 1024
    # One recording: a recorder flushes at most every 2 s while watched (30 a minute),
    # plus retries and the exit flush.
    recording_requests: int = 120
    # One client address: 100 visitors behind one NAT at 12 a minute.
    client_requests: int = 1200
    # One client address's bytes as sent, accepted or refused: six times what 100 visitors
    # send (about 0.4 MiB a minute each, a page's snapshot included), 25 of the 10 MiB
    # bodies API Gateway lets through.
    client_bytes: int = 256 * 1024 * 1024
    # One client address on the public account routes (sign-in, sign-up, confirm, password
    # reset, refresh): far above what people behind one address need (a sign-in a month
    # and a refresh an hour each), far below what guessing codes or passwords takes.
    auth_requests: int = 60


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Names of the stack's resources, who may sign in, and the abuse limits."""

    bucket: str
    table: str
    access_table: str
    stream: str
    user_pool_id: str
    user_pool_client_id: str
    region: str
    # Set only on the local stack (boto3 reads it too); None on AWS.
    endpoint: str | None
    # Days a recording is kept (its events expire by bucket lifecycle, its item by
    # DynamoDB TTL); None keeps recordings until deleted.
    retention_days: int | None
    # Origins of the site: the only pages that may read recordings and manage keys.
    allowed_origins: tuple[str, ...]
    limits: Limits
    # Where the stream consumer reports records it can never store (an SQS queue URL);
    # None when no queue is configured (the record is then only logged).
    failure_queue_url: str | None = None
    compact_idle_seconds: int = COMPACT_IDLE_SECONDS
    share_max_days: int = SHARE_MAX_DAYS
    # The unwatched consumer's window: a recording nobody watches is readable this much later.
    unwatched_window_seconds: int = CONSUMER_BATCHING_WINDOW_SECONDS
    # What the stack's CloudFront distribution sends as X-Origin-Verify, so that its
    # viewer's address can be trusted (``clients.py``); None without a distribution.
    # Kept out of repr: settings may end up in a log line.
    origin_secret: str | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        """The ``iss`` of the pool's tokens (moto uses the AWS form too)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        """Where the pool publishes its signing keys (the local stack serves them too)."""
        base = self.endpoint.rstrip("/") if self.endpoint else self.issuer.rsplit("/", 1)[0]
        return f"{base}/{self.user_pool_id}/.well-known/jwks.json"


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process (a Lambda container or the local stack)."""
    defaults = Limits()
    return Settings(
        bucket=_require(environment.BUCKET),
        table=_require(environment.TABLE),
        access_table=_require(environment.ACCESS_TABLE),
        stream=_require(environment.STREAM),
        user_pool_id=_require(environment.USER_POOL_ID),
        user_pool_client_id=_require(environment.USER_POOL_CLIENT_ID),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint=os.environ.get("AWS_ENDPOINT_URL") or None,
        retention_days=int(os.environ[environment.RETENTION_DAYS])
        if os.environ.get(environment.RETENTION_DAYS)
        else None,
        allowed_origins=tuple(
            origin.strip().rstrip("/")
            for origin in os.environ.get(environment.ALLOWED_ORIGINS, "").split(",")
            if origin.strip()
        ),
        # Every budget may be overridden by its own variable (environment.limit).
        limits=Limits(**{f.name: _int(environment.limit(f.name), getattr(defaults, f.name)) for f in fields(Limits)}),
        failure_queue_url=os.environ.get(environment.FAILURE_QUEUE_URL) or None,
        compact_idle_seconds=_int(environment.COMPACT_IDLE_SECONDS, COMPACT_IDLE_SECONDS),
        share_max_days=_int(environment.SHARE_MAX_DAYS, SHARE_MAX_DAYS),
        unwatched_window_seconds=_int(environment.UNWATCHED_WINDOW_SECONDS, CONSUMER_BATCHING_WINDOW_SECONDS),
        origin_secret=os.environ.get(environment.ORIGIN_SECRET, "").strip() or None,
    )
