"""The workload (recorder batches) and the simulation that drives the real handlers with it."""

from __future__ import annotations

import base64
import gzip
import heapq
import json
import random
import time
import urllib.parse
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import local  # noqa: F401  (puts api/ on the import path)
from bench import cost
from bench.rrweb import EventType
from bench.scale.clock import VirtualClock
from bench.scale.meter import Meter
from bench.scale.settings import (
    BATCH_SECONDS,
    COMPACTION_RUNS,
    DEFAULT_RECORDINGS,
    DEFAULT_SECONDS,
    GIVE_UP_AFTER_S,
    MARKER_TAG,
    RECORDER_MAX_BACKOFF_S,
    RECORDER_MIN_RETRY_S,
    STACK_DEFAULTS,
)
from chalicelib import function_url
from chalicelib.layout import RECORDINGS_ROOT, SCREENSHOT_NAME
from local.event_source import KinesisEventSource, MappingConfig
from local.resources import Names
from tests.support.rrweb_stream import StreamBuilder

# The recorder's id alphabet (site/src/recorder.js newRecordingId): 22 characters.
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


# ---------------------------------------------------------------------------
# The workload: recorder batches


class Workload:
    """Recorder batches: a first batch with the page's snapshot, then 5 s of incremental events each.

    Event templates (rrweb's proportions: mouse moves, scrolls, mutations, clicks,
    input; ``tests/support/rrweb_stream.py``) are built once with times relative to their
    window; a batch is a template moved to its window, behind a custom event naming
    its seq. Templates rotate so visitors do not all send the same bytes.
    """

    def __init__(self, seed: int = 11, *, templates: int = 32) -> None:
        builder = StreamBuilder(seed, start=0)
        self.first = builder.full_snapshot(sections=4)
        window_ms = BATCH_SECONDS * 1000
        builder.now = 0
        self.templates: list[list[dict[str, Any]]] = [[] for _ in range(templates)]
        while True:
            event = builder.incremental()
            slot = event["timestamp"] // window_ms
            if slot >= templates:
                break
            self.templates[slot].append({**event, "timestamp": event["timestamp"] - slot * window_ms})

    def count(self, visitor: int, batch: int) -> int:
        """How many events ``events`` gives for this batch."""
        return 1 + (len(self.first) if batch == 0 else 0) + len(self._template(visitor, batch))

    def _template(self, visitor: int, batch: int) -> list[dict[str, Any]]:
        return self.templates[(visitor * 7 + batch) % len(self.templates)]

    def events(self, visitor: int, batch: int, seq: int, start_ms: int) -> list[dict[str, Any]]:
        """The events of one batch, at its window's time."""
        marker = {"type": EventType.Custom, "timestamp": start_ms, "data": {"tag": MARKER_TAG, "payload": {"seq": seq}}}
        template = self._template(visitor, batch)
        head = [{**e, "timestamp": start_ms + 1 + i} for i, e in enumerate(self.first)] if batch == 0 else []
        return [marker, *head, *({**e, "timestamp": start_ms + e["timestamp"]} for e in template)]


@dataclass(eq=False)
class Visitor:
    """One recorded page: its recording, its queue of batches, what was acknowledged."""

    index: int
    recording_id: str
    address: str
    start: float
    start_ms: int
    queue: deque[int] = field(default_factory=deque)
    created: bool = False
    retry_pending: bool = False
    attempts: int = 0
    # seq -> events, of batches answered 2xx
    acknowledged: dict[int, int] = field(default_factory=dict)
    refused: list[int] = field(default_factory=list)
    bodies: dict[tuple[int, bool], bytes] = field(default_factory=dict)

    def seq(self, batch: int) -> int:
        """The recorder's seq of a batch: page start in ms x 1000, plus the batch's number."""
        return self.start_ms * 1000 + batch


@dataclass
class RouteStats:
    """Requests of one API route: statuses, handler time, and the AWS calls they made."""

    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    # (outcome) -> summed tally, and how many requests it sums
    tallies: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        """Requests sent."""
        return sum(self.statuses.values())

    def add(self, status: int, seconds: float, tally: Counter[str]) -> None:
        """Record one request."""
        outcome = outcome_of(status)
        self.statuses[status] += 1
        self.seconds += seconds
        self.tallies[outcome].update(tally)
        self.counts[outcome] += 1


def outcome_of(status: int) -> str:
    """2xx, 429 or other."""
    return "2xx" if 200 <= status < 300 else "429" if status == 429 else "other"


def _recording_id(rng: random.Random) -> str:
    return "".join(rng.choice(_ID_ALPHABET) for _ in range(22))


def _address(index: int) -> str:
    """A distinct client address per visitor (from 10.0.0.1 on)."""
    number = index + 1
    return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


class _DoorResponse:
    """The ingest door's answer (a function URL's response) as the test client's responses read."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.status_code = int(answer["statusCode"])
        self.headers = answer.get("headers", {})
        body = answer.get("body") or ""
        self.body = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        try:
            self.json_body = json.loads(self.body) if self.body else None
        except ValueError:
            self.json_body = None


def _set_source_address(http: Any, address: str) -> bool:
    """Make the test client's next requests come from ``address``; False if it cannot.

    Chalice's test client sends every request from 127.0.0.1 (its event converter's
    ``LOCAL_SOURCE_IP``); visitors of a site come from their own addresses, which the
    API's per-client limits count.
    """
    converter = getattr(getattr(http, "_local_gateway", None), "event_converter", None)
    if converter is None or not hasattr(converter, "LOCAL_SOURCE_IP"):
        return False
    converter.LOCAL_SOURCE_IP = address
    return True


# ---------------------------------------------------------------------------
# The simulation


@dataclass(frozen=True, kw_only=True)
class Config:
    """What a run simulates."""

    recordings: int = DEFAULT_RECORDINGS
    seconds: int = DEFAULT_SECONDS
    compact: bool = False
    seed: int = 1

    @property
    def batches(self) -> int:
        """Batches per recording."""
        return max(1, self.seconds // BATCH_SECONDS)


class Simulation:
    """Visitors, the API, the consumer and the reaper, in simulated time."""

    def __init__(self, config: Config, *, clock: VirtualClock, meter: Meter, client: Any, names: Names) -> None:
        self.config = config
        self.clock = clock
        self.meter = meter
        self.client = client
        self.http = client.http
        self.names = names
        self.rng = random.Random(config.seed)
        self.workload = Workload(seed=config.seed + 10)
        ids = random.Random(config.seed + 20)
        self.visitors = [
            Visitor(
                index=i,
                recording_id=_recording_id(ids),
                address=_address(i),
                start=i * BATCH_SECONDS / config.recordings,
                start_ms=clock.wall_ms(i * BATCH_SECONDS / config.recordings),
            )
            for i in range(config.recordings)
        ]
        self.routes: dict[str, RouteStats] = defaultdict(RouteStats)
        self.key = ""
        self.token = ""
        self.distinct_addresses = True
        self.last_post = 0.0
        self.invocations: dict[str, list[float]] = defaultdict(list)
        self.consumed_records = 0
        self.consumer_failures: list[dict[str, Any]] = []
        self.compaction_outcomes: Counter[str] = Counter()
        self.esm: KinesisEventSource | None = None
        self.s3: Any = None
        self.screenshots = 0

    # -- setup: an owner and one ingest key, through the routes

    def sign_in(self) -> None:
        """Sign up, confirm, sign in and create one ingest key, as a site owner would."""
        email, password = "owner@scale.example.com", "Scale-Bench-Pass-42"
        json_headers = {"content-type": "application/json"}

        def post(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
            response = self.http.post(path, headers={**json_headers, **(headers or {})}, body=json.dumps(body))
            if response.status_code >= 300:
                raise RuntimeError(f"POST {path}: {response.status_code} {response.body[:300]!r}")
            return response

        with self.meter.acting("setup"):
            post("/auth/signup", {"email": email, "password": password})
            post("/auth/confirm", {"email": email, "code": "000000"})
            self.token = post("/auth/signin", {"email": email, "password": password}).json_body["accessToken"]
            created = post("/keys", {"name": "scale"}, {"authorization": f"Bearer {self.token}"})
            self.key = created.json_body["key"]

    # -- ingest

    def ingest(self) -> None:
        """Every visitor's batches, retried until acknowledged; the consumer after each second."""
        FLUSH, RETRY = 0, 1  # noqa: N806 (local constants)
        batches = self.config.batches
        heap: list[tuple[float, int, int, int, int]] = []
        order = 0
        for visitor in self.visitors:
            heap.append((visitor.start, order, FLUSH, visitor.index, 0))
            order += 1
        heapq.heapify(heap)
        deadline = batches * BATCH_SECONDS + GIVE_UP_AFTER_S
        tick = 1
        self.meter.rating = True
        while heap:
            at, _, kind, index, batch = heapq.heappop(heap)
            if at > deadline:
                break
            while tick <= at:
                self.tick(tick)
                tick += 1
            self.clock.set(at)
            visitor = self.visitors[index]
            if kind == FLUSH:
                visitor.queue.append(batch)
                if batch + 1 < batches:
                    heapq.heappush(heap, (at + BATCH_SECONDS, order, FLUSH, index, batch + 1))
                    order += 1
            else:
                visitor.retry_pending = False
            if visitor.retry_pending:
                continue
            wait = self._pump(visitor)
            if wait is not None:
                visitor.retry_pending = True
                heapq.heappush(heap, (at + wait, order, RETRY, index, 0))
                order += 1
        # Drain: what the stream still holds goes to the consumer.
        while self.tick(tick):
            tick += 1
        self.meter.rating = False

    def _pump(self, visitor: Visitor) -> float | None:
        """Send the visitor's queue in order; the seconds until a retry, or None when it is empty."""
        while visitor.queue:
            batch = visitor.queue[0]
            status, retry_after = self._post(visitor, batch)
            if 200 <= status < 300:
                visitor.queue.popleft()
                visitor.created = True
                visitor.attempts = 0
                continue
            if status in (408, 429) or status >= 500:
                visitor.attempts += 1
                return self._backoff(visitor.attempts, retry_after)
            # Refused for good (a 4xx other than 408/429): the recorder drops the batch.
            visitor.refused.append(batch)
            visitor.queue.popleft()
            visitor.attempts = 0
        return None

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        """site/src/recorder.js ``backoffMs``: Retry-After with up to 25% jitter, else exponential."""
        if retry_after is None:
            wait = 0.5 * 2 ** (attempts - 1) * (0.5 + self.rng.random() / 2)
        else:
            wait = max(RECORDER_MIN_RETRY_S, retry_after) * (1 + self.rng.random() / 4)
        return min(RECORDER_MAX_BACKOFF_S, wait)

    def _body(self, visitor: Visitor, batch: int, *, create: bool) -> bytes:
        """The batch as the recorder sends it: gzip JSON, with the recording's fields when it creates."""
        body = visitor.bodies.get((batch, create))
        if body is None:
            seq = visitor.seq(batch)
            start_ms = self.clock.wall_ms(visitor.start + batch * BATCH_SECONDS)
            events = self.workload.events(visitor.index, batch, seq, start_ms)
            payload: dict[str, Any] = {"seq": seq, "events": events}
            if create:
                payload = {
                    "id": visitor.recording_id,
                    "url": f"https://shop.example.com/products/{visitor.index}",
                    "title": f"Product {visitor.index}",
                    **payload,
                }
            # Browsers' CompressionStream("gzip") is zlib's default level.
            body = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=6)
            visitor.bodies[(batch, create)] = body
        return body

    def _post(self, visitor: Visitor, batch: int) -> tuple[int, float | None]:
        create = not visitor.created
        route = "create" if create else "events"
        path = "/recordings" if create else f"/recordings/{visitor.recording_id}/events"
        body = self._body(visitor, batch, create=create)
        from app import ingest as ingest_handler  # the stack's handler, imported once the app's env is set

        with self.meter.acting("api"), self.meter.driven_by("start" if create else "events"):
            self.meter.begin_request()
            started = time.perf_counter()
            # Through the recorder's door, as the stack serves it: the ingest function behind
            # its function URL, the body as the recorder sends it (base64 text of the gzip).
            response = _DoorResponse(
                ingest_handler(
                    function_url.url_event(
                        method="POST",
                        path=path,
                        query=f"ingestKey={urllib.parse.quote(self.key)}",
                        headers={"Content-Type": "text/plain"},
                        body=base64.b64encode(body),
                        source_ip=visitor.address,
                        request_id=f"{visitor.index}-{batch}",
                    ),
                    None,
                )
            )
            elapsed = time.perf_counter() - started
            tally = self.meter.end_request()
        self.routes[route].add(response.status_code, elapsed, tally)
        if create and 200 <= response.status_code < 300:
            self._screenshot(response)
        self.meter.track("ingest_requests", ("account",), 1)
        self.last_post = max(self.last_post, self.clock.offset)
        if 200 <= response.status_code < 300:
            visitor.acknowledged[visitor.seq(batch)] = self.workload.count(visitor.index, batch)
            visitor.bodies.pop((batch, create), None)
        retry_after = _header(response.headers, "retry-after")
        return response.status_code, float(retry_after) if retry_after not in (None, "") else None

    def _screenshot(self, response: Any) -> None:
        """The recorder's thumbnail, uploaded by the browser straight to S3 with the create's form.

        Stored with PutObject under the form's key (what S3 does with the form's POST):
        one S3 write under the recording's prefix, and one reaper invocation, per start.
        """
        upload = (response.json_body or {}).get("screenshotUpload") or {}
        key = (upload.get("fields") or {}).get("key")
        if not key or self.s3 is None:
            return
        with self.meter.acting("browser"), self.meter.driven_by("start"):
            self.s3.put_object(
                Bucket=self.names.bucket, Key=key, Body=b"\xff" * cost.SCREENSHOT_BYTES, ContentType="image/jpeg"
            )
        self.screenshots += 1

    # -- the stream consumer, as Lambda's event source mapping runs it

    def start_consumer(self, session: Any, variables: dict[str, str]) -> None:
        """The event source mapping with the stack's default settings, invoking ``consume_events``."""
        kinesis = session.client("kinesis")
        sqs = session.client("sqs")
        self.s3 = session.client("s3")
        with self.meter.quiet():
            stream_arn = kinesis.describe_stream_summary(StreamName=self.names.stream)["StreamDescriptionSummary"][
                "StreamARN"
            ]

        def on_failure(message: dict[str, Any]) -> None:
            self.consumer_failures.append(message)
            sqs.send_message(QueueUrl=variables["RRWEB_FAILURE_QUEUE_URL"], MessageBody=json.dumps(message))

        self.esm = KinesisEventSource(
            kinesis=kinesis,
            stream_arn=stream_arn,
            handler=self._consume,
            on_failure=on_failure,
            config=MappingConfig.of(STACK_DEFAULTS),
        )

    def tick(self, second: int) -> int:
        """One second of Lambda's polling: every shard read, its records handed over; records handled."""
        assert self.esm is not None
        self.clock.set(second)
        with self.meter.acting("event_source_mapping"):
            return self.esm.poll(flush=True)

    def _consume(self, event: dict[str, Any]) -> dict[str, Any] | None:
        self.consumed_records += len(event["Records"])
        response = self._invoke("consumer", "consume_events", event)
        self.reap()
        return response

    def _invoke(self, phase: str, function: str, event: dict[str, Any]) -> Any:
        with self.meter.acting(phase):
            started = time.perf_counter()
            try:
                return self.client.lambda_.invoke(function, event).payload
            finally:
                self.invocations[phase].append(time.perf_counter() - started)

    def reap(self) -> None:
        """The bucket's notifications, with the stack's filter: a reaper invocation per screenshot created."""
        while self.meter.created_objects:
            key = self.meter.created_objects.pop(0)
            # The notification's prefix and suffix (infra/api.py): the stack's own writers
            # delete what they wrote for a recording deleted meanwhile.
            if not (key.startswith(RECORDINGS_ROOT) and key.endswith("/" + SCREENSHOT_NAME)):
                continue
            event = self.client.events.generate_s3_event(
                bucket=self.names.bucket, key=urllib.parse.quote_plus(key, safe="/")
            )
            self.meter.track("reaper_invocations", ("account",), 1, "start")
            self._invoke("reaper", "reap_orphans", event)

    # -- compaction, once every recording is idle

    def compact(self, idle_seconds: int) -> None:
        """Move past the idle time, then run the scheduled compaction until it finds nothing."""
        self.clock.set(self.clock.offset + idle_seconds + 60)
        event = self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        for _ in range(COMPACTION_RUNS):
            outcomes = self._invoke("compaction", "compact_recordings", event) or {}
            self.reap()
            self.compaction_outcomes.update(outcomes)
            if not outcomes.get("compacted"):
                break
            self.clock.set(self.clock.offset + STACK_DEFAULTS.compact_every_minutes * 60)

    # -- reading back

    def read_back(self) -> dict[str, Any]:
        """Every recording's events through GET /recordings/{id}/events as the owner: seqs and events."""
        readable_batches = readable_events = 0
        mismatched: list[str] = []
        statuses: Counter[int] = Counter()
        self.distinct_addresses &= _set_source_address(self.http, "192.0.2.1")
        with self.meter.acting("read_back"):
            for visitor in self.visitors:
                seqs, events = self._read(visitor, statuses)
                readable_batches += len(seqs)
                readable_events += events
                if seqs != set(visitor.acknowledged):
                    mismatched.append(visitor.recording_id)
        return {
            "batches": readable_batches,
            "events": readable_events,
            "statuses": {str(status): count for status, count in sorted(statuses.items())},
            "recordings_differing": len(mismatched),
            "differing_examples": mismatched[:5],
        }

    def _read(self, visitor: Visitor, statuses: Counter[int]) -> tuple[set[int], int]:
        seqs: set[int] = set()
        events = 0
        cursor: str | None = None
        headers = {"authorization": f"Bearer {self.token}", "accept": "*/*", "accept-encoding": "gzip"}
        while True:
            path = f"/recordings/{visitor.recording_id}/events" + (
                f"?after={urllib.parse.quote(cursor)}" if cursor else ""
            )
            self.meter.begin_request()
            started = time.perf_counter()
            response = self.http.get(path, headers=headers)
            self.routes["read"].add(response.status_code, time.perf_counter() - started, self.meter.end_request())
            statuses[response.status_code] += 1
            if response.status_code == 429:
                self.clock.set(self.clock.offset + float(_header(response.headers, "retry-after") or 1))
                continue
            if response.status_code != 200:
                return seqs, events
            body = response.body
            if _header(response.headers, "content-encoding") == "gzip":
                body = gzip.decompress(body)
            for line in body.splitlines():
                if not line.strip():
                    continue
                event = json.loads(line)
                events += 1
                data = event.get("data") if event.get("type") == EventType.Custom else None
                if isinstance(data, dict) and data.get("tag") == MARKER_TAG:
                    seqs.add(int(data["payload"]["seq"]))
            cursor = _header(response.headers, "x-next-cursor")
            if not cursor:
                return seqs, events


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None
