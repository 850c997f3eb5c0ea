"""The write path: an event batch from request body to the stream, then the 202.

What the body's length and headers alone refuse is refused before authentication
(``screen``, called by ``auth.Authenticator``). Then inflate (bounded) and validate the
body; only an acceptable body is charged to its budgets (``admit``: the recording's,
then the key's or user's; ``auth.py``). Then read the recording (one consistent
GetItem), then send the batch's gzip payload (the client's own bytes when it sent gzip)
as one or more ingest records with PutRecords; only after Kinesis took every record is
the batch acknowledged. A POST writes nothing to DynamoDB: the stream consumer counts
the batch (``consumer.py``: what happens after the 202). A retry of a seq (after a
lost answer, or a 503) reaches the stream again: records are named by (recording,
seq, part), so the reader serves each seq once and compaction counts it once
(docs/architecture.md, "Retries and repeats").
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from . import assets, records, settings, validation
from .errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from .ids import new_id, now_ms
from .recording_table import RecordingTable
from .recordings import Recordings, Visit

# PutRecords limits: 500 records and 5 MiB (data plus partition keys) per call.
_PUT_MAX_RECORDS = 500
_PUT_MAX_BYTES = 5 * 1024 * 1024
# Compression of plain bodies: level 6 is what keeps stored bytes small; bodies from
# the recorder arrive gzip already and are stored as sent.
_SERVER_GZIP_LEVEL = 6
# A shard takes 1 MB (or 1,000 records) a second: a refused record waits this long
# before the shard's next window. A 4 MiB body's 6 records take about 6 seconds.
_SHARD_WINDOW_SECONDS = 1.0
_THROTTLED = "ProvisionedThroughputExceededException"
# How long one POST keeps writing a large batch into its shard: well inside the API
# function's 28 s timeout (and API Gateway's 29 s), with the reads and the count after it.
_PUT_PATIENCE_SECONDS = 15.0


class EventWriter:
    """Writes ingest records to a Kinesis stream, retrying what it refuses.

    A batch's records share one partition key, so they all go to one shard, which takes
    1 MB a second: a batch of several MB (a long page's snapshot, up to the 4 MiB body
    limit) can only be written over several seconds, each PutRecords taking about a
    megabyte and refusing the rest. So refused records are retried for as long as each
    attempt gets some in, up to ``patience`` seconds, a shard's window apart when the
    shard refused them for throughput; ``attempts`` attempts in a row that get nothing
    in give up (503).
    """

    def __init__(
        self,
        *,
        kinesis: Any,
        stream: str,
        attempts: int = 4,
        base_delay: float = 0.05,
        patience: float = _PUT_PATIENCE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream
        self._attempts = attempts
        self._base_delay = base_delay
        self._patience = patience
        self._sleep = sleep
        self._clock = clock

    def put(self, data: list[bytes], partition_key: str) -> None:
        """Write every record or raise ``ServiceUnavailableError``; never a silent partial write."""
        started = self._clock()
        for call in _put_calls(data, partition_key):
            self._put_all(call, partition_key, started)

    def _put_all(self, pending: list[bytes], partition_key: str, started: float) -> None:
        fruitless = 0  # attempts in a row that got no record in
        while True:
            result = self._kinesis.put_records(
                StreamName=self._stream,
                Records=[{"Data": item, "PartitionKey": partition_key} for item in pending],
            )
            if not result.get("FailedRecordCount"):
                return
            outcomes = [
                (item, outcome.get("ErrorCode")) for item, outcome in zip(pending, result["Records"], strict=True)
            ]
            refused = [item for item, code in outcomes if code]
            throttled = all(code == _THROTTLED for _, code in outcomes if code)
            fruitless = fruitless + 1 if len(refused) == len(pending) else 0
            pending = refused
            if fruitless >= self._attempts or self._clock() - started > self._patience:
                raise ServiceUnavailableError(
                    f"the event stream refused {len(pending)} records; retry the same seq", retry_after=1
                )
            if throttled:
                # The shard's throughput for this second is spent; the next second's is not.
                self._sleep(_SHARD_WINDOW_SECONDS)
            else:
                # Full jitter keeps retries of many writers from colliding again.
                self._sleep(random.uniform(0, self._base_delay * 2**fruitless))  # noqa: S311 (jitter, not secrecy)


def _put_calls(data: list[bytes], partition_key: str) -> list[list[bytes]]:
    calls: list[list[bytes]] = [[]]
    size = 0
    for item in data:
        item_size = len(item) + len(partition_key)
        if calls[-1] and (len(calls[-1]) == _PUT_MAX_RECORDS or size + item_size > _PUT_MAX_BYTES):
            calls.append([])
            size = 0
        calls[-1].append(item)
        size += item_size
    return calls


def _encoding(header: str | None) -> str:
    value = (header or "identity").strip().lower()
    if value not in ("gzip", "identity"):
        raise ApiError(
            f"Content-Encoding {value!r} is not supported; send gzip or identity",
            code="unsupported_encoding",
            status=415,
        )
    return value


def screen(body_bytes: int, content_encoding: str | None) -> None:
    """Refuse what the request's length and headers alone refuse: 413 over the body limit, 415 an unknown encoding.

    Cheap, and before authentication, so an oversized body is never charged to a key.
    """
    if body_bytes > settings.MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"request body exceeds {settings.MAX_BODY_BYTES} bytes", code="body_too_large")
    _encoding(content_encoding)


_log = logging.getLogger(__name__)


class Admit(Protocol):
    """Charges an ingest request whose body was found acceptable (``auth.Principal.admit``).

    Given the recording's id and what the request weighs; raises 429 when a budget is
    spent. The routes always pass one; None is for callers that write as the stack itself
    (tools, tests, benchmarks).
    """

    def __call__(self, recording_id: str, *, requests: int = 1) -> None:
        """Charge, or raise 429."""


# Answers the page's question about its assets that rode on a batch (``assets.Assets.missing``
# for the request's owner and byte budget), given the recording's id and the entries.
Ask = Callable[[str, tuple[assets.Wanted, ...]], dict[str, Any]]


def _weight(question: tuple[assets.Wanted, ...]) -> int:
    """What a batch weighs against a budget's requests: one, plus its question's lookups."""
    return 1 + (assets.lookup_requests(len(question)) if question else 0)


def _answer(ask: Ask | None, recording_id: str, question: tuple[assets.Wanted, ...]) -> dict[str, Any] | None:
    """The answer to a batch's asset question, asked once the batch is written.

    The batch is acknowledged whatever happens here: a spent byte budget (429) or an
    asset store that did not answer is said in the answer, and the page asks again with
    a later batch. Failing the request would have the page send the batch again, and again.
    """
    if not question or ask is None:
        return None
    try:
        return ask(recording_id, question)
    except ApiError as exc:
        return {"error": {"code": exc.code, "message": exc.message}}
    except (ClientError, BotoCoreError):
        _log.exception("asset question of recording %s not answered", recording_id)
        return {"error": {"code": "unavailable", "message": "the asset store did not answer; ask again later"}}


@dataclass(frozen=True, kw_only=True)
class PreparedBatch:
    """A validated batch and its gzip payload, ready to go on the stream as ingest records."""

    batch: validation.Batch
    owner: str
    recording_id: str
    payload: bytes
    received: int
    part_size: int = settings.MAX_PART_PAYLOAD_BYTES

    @property
    def stored_bytes(self) -> int:
        """What the batch weighs in S3: its gzip payload."""
        return len(self.payload)

    @functools.cached_property
    def records(self) -> list[bytes]:
        """The Kinesis records that carry the batch, for the unwatched consumer."""
        return self._build(live=False)

    def records_for(self, *, live: bool) -> list[bytes]:
        """The records, marked ``live`` for the watched consumer (docs/architecture.md, "Two consumers")."""
        return self._build(live=True) if live else self.records

    def _build(self, *, live: bool) -> list[bytes]:
        batch = self.batch
        return records.build_records(
            owner=self.owner,
            recording=self.recording_id,
            seq=batch.seq,
            payload=self.payload,
            received=self.received,
            events=batch.event_count,
            raw=batch.raw_bytes,
            first=batch.first_timestamp,
            last=batch.last_timestamp,
            errors=batch.errors,
            live=live,
            part_size=self.part_size,
        )


def is_gzip(body: bytes, content_encoding: str | None) -> bool:
    """Whether a body is gzip: declared so, or starting with gzip's magic bytes.

    JSON never starts with byte 0x1f, so the magic is unambiguous; it lets browsers send
    gzip as a CORS-simple ``text/plain`` request, with no preflight.
    """
    return _encoding(content_encoding) == "gzip" or body[:2] == validation.GZIP_MAGIC


# gzip's magic and its method byte (1f 8b 08) in base64: how a gzip body sent as base64
# text starts. JSON never does (it starts with "{" or whitespace).
BASE64_GZIP_PREFIX = b"H4sI"


def _unarmoured(body: bytes, content_encoding: str | None) -> bytes:
    """A gzip body the recorder sent as base64 text, decoded; any other body as it came.

    The recorder sends gzip as CORS-simple ``text/plain``. Lambda function URLs (the
    ingest door, ``chalicelib.function_url``) deliver a text body as a UTF-8 string,
    which would mangle gzip's bytes; as base64 it arrives intact through every door.
    """
    armoured = body.lstrip()
    if _encoding(content_encoding) == "gzip" or not armoured.startswith(BASE64_GZIP_PREFIX):
        return body
    try:
        # Line breaks and spaces are allowed, as `base64` and other tools wrap their output.
        return base64.b64decode(armoured.translate(None, b" \t\r\n"), validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequestError("the body starts like base64 gzip but is not valid base64", code="bad_body") from error


def _inflated(body: bytes, content_encoding: str | None) -> tuple[bytes, bytes | None]:
    """The body's JSON (inflated, bounded) and its gzip bytes as sent, or None for a plain body.

    The limits apply to what arrived: MAX_BODY_BYTES on the wire, MAX_BATCH_BYTES inflated.
    """
    if len(body) > settings.MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"request body exceeds {settings.MAX_BODY_BYTES} bytes", code="body_too_large")
    body = _unarmoured(body, content_encoding)
    if body and is_gzip(body, content_encoding):
        inflated, payload = validation.inflate(body, limit=settings.MAX_BATCH_BYTES), body
    else:
        inflated, payload = body, None
    return inflated, payload


def _prepared(
    *,
    owner: str,
    recording_id: str,
    batch: validation.Batch,
    inflated: bytes,
    payload: bytes | None,
    part_size: int,
) -> PreparedBatch:
    # A gzip body is stored as sent; only a plain body is compressed here.
    if payload is None:
        payload = gzip.compress(inflated, compresslevel=_SERVER_GZIP_LEVEL, mtime=0)
    prepared = PreparedBatch(
        batch=batch,
        owner=owner,
        recording_id=recording_id,
        payload=payload,
        received=now_ms(),
        part_size=part_size,
    )
    # Built now: a batch whose records the consumer could not take is refused before any write.
    prepared.records  # noqa: B018
    return prepared


def prepare_batch(
    *,
    owner: str,
    recording_id: str,
    body: bytes,
    content_encoding: str | None,
    part_size: int = settings.MAX_PART_PAYLOAD_BYTES,
) -> PreparedBatch:
    """The handler's own work, no AWS call: decode, inflate, validate, build the records.

    A gzip body is kept as the stored payload byte for byte; only a plain body is
    compressed here.
    """
    inflated, payload = _inflated(body, content_encoding)
    return _prepared(
        owner=owner,
        recording_id=recording_id,
        batch=validation.event_batch(inflated),
        inflated=inflated,
        payload=payload,
        part_size=part_size,
    )


def ingest(
    *,
    table: RecordingTable,
    writer: EventWriter,
    owner: str,
    recording_id: str,
    body: bytes,
    content_encoding: str | None,
    admit: Admit | None = None,
    ask: Ask | None = None,
    part_size: int = settings.MAX_PART_PAYLOAD_BYTES,
) -> dict[str, Any]:
    """Accept one event batch for a recording; returns the 202 body.

    The batch is charged (``admit``) once it is found acceptable, before any AWS call.
    Kinesis first, then the count: a batch is acknowledged only once every record is
    in the stream, and a retry after a failure finds its seq uncounted and writes again.
    A question about the page's assets riding on the batch is answered (``ask``) once
    the batch is written, in the answer's ``assets``.
    """
    validation.recording_id(recording_id)
    prepared = prepare_batch(
        owner=owner, recording_id=recording_id, body=body, content_encoding=content_encoding, part_size=part_size
    )
    question = assets.carried(prepared.batch.assets)
    if admit is not None:
        admit(recording_id, requests=_weight(question))
    result = commit(table=table, writer=writer, owner=owner, recording_id=recording_id, prepared=prepared)
    answer = _answer(ask, recording_id, question)
    if answer is not None:
        result["assets"] = answer
    return result


def commit(
    *,
    table: RecordingTable,
    writer: EventWriter,
    owner: str,
    recording_id: str,
    prepared: PreparedBatch,
    item: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a validated batch to the stream; returns the 202 body.

    ``item`` is the recording as just created; otherwise it is read (404 when missing or
    being deleted). If anything fails once the stream took some of the records, the
    client is told to retry (503): the retry writes the same seq again, and the reader
    and compaction take each (seq, part) once.
    """
    batch = prepared.batch
    if item is None:
        item = table.get(owner, recording_id)
        if item is None:
            raise NotFoundError("recording not found")
    if batch.user is not None:
        # Only a batch after identify() carries a user, and only a new one is written: a
        # POST without one writes nothing. Idempotent, so a retry may repeat it.
        table.set_user(item, batch.user)
    watched = int(item.get("watchedUntil", 0)) > now_ms()
    if int(item.get("batchCount", 0)) >= settings.MAX_BATCHES_PER_RECORDING:
        raise ConflictError(
            f"a recording holds at most {settings.MAX_BATCHES_PER_RECORDING} batches; start a new recording",
            code="recording_full",
        )
    # The watched consumer's records only when someone watches and the recorder knows it:
    # its batches from then on start with a full snapshot, so what the watcher sees first
    # never depends on earlier batches still in the unwatched consumer's window.
    writer.put(prepared.records_for(live=watched and batch.live), partition_key=recording_id)
    if batch.end:
        # Once the last batch is in the stream: the recording is listed as ended at once.
        table.mark_ended(owner, recording_id)
    return {
        "recording": recording_id,
        "seq": batch.seq,
        "events": batch.event_count,
        # Someone follows this recording live: the recorder flushes every LIVE_FLUSH_MS.
        "live": watched,
    }


def create_recording(
    *,
    recordings: Recordings,
    table: RecordingTable,
    writer: EventWriter,
    owner: str,
    body: bytes,
    content_encoding: str | None,
    admit: Admit | None = None,
    ask: Ask | None = None,
    user_agent: str | None = None,
    part_size: int = settings.MAX_PART_PAYLOAD_BYTES,
) -> tuple[dict[str, Any], bool]:
    """Create a recording; the body may also carry its first batch (``seq`` and ``events``).

    One request instead of two for a recorder's start. Everything is validated before
    anything is written, so a bad batch creates no recording either. The limits are
    those of the events route, applied to the body as sent; a gzip body is stored as
    sent (the reader ignores the recording's own fields in it). A create for an id that
    exists is a later page view of the same session (``Recordings.create``); the
    request's ``User-Agent`` names the browser of a new recording. The request is
    charged (``admit``) once all of it is found acceptable, before anything is written.
    A question about the page's assets in the body is answered (``ask``) last, in the
    answer's ``assets``: a page's first request asks it at no request of its own.
    """
    inflated, payload = _inflated(body, content_encoding)
    fields = validation.create_body(inflated)
    question = assets.carried(fields.assets)
    recording_id = fields.id or new_id()
    prepared = None
    if fields.batch is not None:
        prepared = _prepared(
            owner=owner,
            recording_id=recording_id,
            batch=fields.batch,
            inflated=inflated,
            payload=payload,
            part_size=part_size,
        )
    if admit is not None:
        admit(recording_id, requests=_weight(question))
    created, inserted = recordings.create(
        owner,
        recording_id=recording_id,
        url=fields.url,
        title=fields.title,
        visit=Visit.of(fields, user_agent=user_agent),
    )
    if prepared is not None:
        # A new recording's first batch needs no read of the item just written; a
        # retried create (the recording exists) reads it like any POST.
        created["firstBatch"] = commit(
            table=table,
            writer=writer,
            owner=owner,
            recording_id=recording_id,
            prepared=prepared,
            item=created["item"] if inserted else None,
        )
    created.pop("item", None)
    answer = _answer(ask, recording_id, question)
    if answer is not None:
        created["assets"] = answer
    return created, inserted


@dataclass(frozen=True, kw_only=True)
class Ingest:
    """The ingest service the routes call: create a recording, append a batch."""

    recordings: Recordings
    table: RecordingTable
    writer: EventWriter

    def create(
        self,
        owner: str,
        body: bytes,
        content_encoding: str | None,
        *,
        admit: Admit | None = None,
        ask: Ask | None = None,
        user_agent: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """``create_recording`` on this stack's resources."""
        return create_recording(
            recordings=self.recordings,
            table=self.table,
            writer=self.writer,
            owner=owner,
            body=body,
            content_encoding=content_encoding,
            admit=admit,
            ask=ask,
            user_agent=user_agent,
        )

    def append(
        self,
        owner: str,
        recording_id: str,
        body: bytes,
        content_encoding: str | None,
        *,
        admit: Admit | None = None,
        ask: Ask | None = None,
    ) -> dict[str, Any]:
        """``ingest`` on this stack's resources."""
        return ingest(
            table=self.table,
            writer=self.writer,
            owner=owner,
            recording_id=recording_id,
            body=body,
            content_encoding=content_encoding,
            admit=admit,
            ask=ask,
        )
