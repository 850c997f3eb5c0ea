"""Faults as AWS produces them, injected into real (moto) clients for property tests.

A ``Faults`` plan decides, call by call, whether a dependency misbehaves and how; its
choices are drawn by Hypothesis, so a failing run shrinks to the fewest faults that
still break it. Errors are the services' own: botocore builds them from the status
and error body a hook returns in place of the real call, exactly as it would from a
response on the wire (the client's modeled exception class, ``ResponseMetadata`` with
the HTTP status). Nothing here changes how the code under test is built: the hooks go
on clients the test constructs and hands over.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from hypothesis import strategies as st

T = TypeVar("T")


@dataclass(frozen=True)
class AwsFault:
    """One error answer: the error code, its HTTP status and message, as the service sends them."""

    code: str
    status: int
    message: str

    def response(self, operation: str) -> dict[str, Any]:
        """The parsed error response botocore would build for this answer."""
        del operation
        return {
            "Error": {"Code": self.code, "Message": self.message},
            "ResponseMetadata": {
                "HTTPStatusCode": self.status,
                "HTTPHeaders": {"x-amzn-errortype": self.code},
                "RetryAttempts": 0,
            },
        }

    def client_error(self, client: Any, operation: str) -> ClientError:
        """The exception the client itself raises for this answer (its modeled class when it has one)."""
        return client.exceptions.from_code(self.code)(self.response(operation), operation)


KINESIS_THROTTLED = AwsFault(
    "ProvisionedThroughputExceededException",
    400,
    "Rate exceeded for shard shardId-000000000000 in stream under account 123456789012.",
)
KINESIS_INTERNAL = AwsFault("InternalFailure", 500, "Internal service failure.")
DYNAMODB_FAULTS = (
    AwsFault(
        "ProvisionedThroughputExceededException",
        400,
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    AwsFault("ThrottlingException", 400, "Rate of requests exceeds the allowed throughput."),
    AwsFault("InternalServerError", 500, "Internal server error"),
)
S3_FAULTS = (
    AwsFault("InternalError", 500, "We encountered an internal error. Please try again."),
    AwsFault("ServiceUnavailable", 503, "Service Unavailable"),
    AwsFault("SlowDown", 503, "Please reduce your request rate."),
)


class Faults:
    """Which calls fail, drawn by Hypothesis as they happen.

    ``pick`` is for calls made on the test's own thread. Calls made on other threads
    (the reader's fetch pool) take their faults from a queue drawn beforehand, since
    Hypothesis draws belong to the test's thread.
    """

    def __init__(self) -> None:
        self._data: Any = None
        self._rate = 0
        self._paused = 0
        self._queued: deque[AwsFault | None] = deque()
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def begin(self, data: Any, *, rate: int) -> None:
        """Start an example: draw from ``data``, failing about ``rate`` percent of calls."""
        self._data = data
        self._rate = rate
        self._paused = 0
        self._queued.clear()
        self.injected.clear()

    @property
    def active(self) -> bool:
        """Whether calls on the test's thread may fail now."""
        return self._data is not None and self._rate > 0 and not self._paused

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No faults inside (a competing request, a final attempt that must get through)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def pick(self, site: str, options: Sequence[T]) -> T | None:
        """One of ``options`` when this call should fail, else None."""
        if not self.active:
            return None
        roll = self._data.draw(st.integers(0, 99), label=f"fault roll at {site}")
        if roll < 100 - self._rate:
            return None
        chosen = self._data.draw(st.sampled_from(options), label=f"fault at {site}")
        self.injected[f"{site}: {chosen.code if isinstance(chosen, AwsFault) else chosen}"] += 1
        return chosen

    def draw(self, strategy: Any, label: str) -> Any:
        """A further choice about a fault already picked (which records a shard refuses)."""
        return self._data.draw(strategy, label=label)

    def queue(self, faults: Sequence[AwsFault | None]) -> None:
        """Faults for the next calls made through ``take`` (any thread), in call order."""
        with self._lock:
            self._queued.extend(faults)

    def take(self, site: str) -> AwsFault | None:
        """The next queued fault, or None once the queue is empty."""
        with self._lock:
            fault = self._queued.popleft() if self._queued else None
            if fault is not None:
                self.injected[f"{site}: {fault.code}"] += 1
        return fault


def fail_calls(client: Any, operation: str, decide: Callable[[dict[str, Any]], AwsFault | None]) -> None:
    """Make ``client``'s ``operation`` answer with the fault ``decide`` returns for a call.

    ``decide`` gets the serialized request; None lets the real call through.
    """
    service = client.meta.service_model.service_id.hyphenize()

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        fault = decide(params)
        if fault is None:
            return None
        http = AWSResponse(params.get("url", ""), fault.status, {"x-amzn-errortype": fault.code}, None)
        return http, fault.response(operation)

    client.meta.events.register(f"before-call.{service}.{operation}", before_call)


def fail_after_calls(client: Any, operation: str, decide: Callable[[], AwsFault | None]) -> None:
    """Make ``client``'s ``operation`` take effect, then answer with the fault ``decide`` returns.

    The write happened but its response was lost: the caller sees the error and cannot
    know, the case an idempotent retry exists for.
    """
    service = client.meta.service_model.service_id.hyphenize()

    def after_call(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        fault = decide()
        if fault is None:
            return
        http_response.status_code = fault.status
        parsed.clear()
        parsed.update(fault.response(operation))

    client.meta.events.register(f"after-call.{service}.{operation}", after_call)


class FlakyKinesis:
    """A real Kinesis client whose PutRecords fails as a busy stream does.

    Per call, per the plan: all records taken; some records refused (each refused
    record answers ``ProvisionedThroughputExceededException`` or ``InternalFailure``,
    the others are written); the whole call throttled (nothing written); or every
    record written and then the response lost to a 500 (the caller cannot know).
    """

    PARTIAL = "partial failure"
    THROTTLED = "call throttled"
    LOST = "written, then 500"

    def __init__(self, real: Any, faults: Faults) -> None:
        self._real = real
        self._faults = faults
        self.calls = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        fault = self._faults.pick("kinesis PutRecords", [self.PARTIAL, self.PARTIAL, self.THROTTLED, self.LOST])
        if fault == self.THROTTLED:
            raise KINESIS_THROTTLED.client_error(self._real, "PutRecords")
        if fault == self.LOST:
            self._real.put_records(StreamName=StreamName, Records=Records)
            raise KINESIS_INTERNAL.client_error(self._real, "PutRecords")
        refused: dict[int, AwsFault] = {}
        if fault == self.PARTIAL:
            indexes = self._faults.draw(
                st.sets(st.integers(0, len(Records) - 1), min_size=1), label="records a shard refuses"
            )
            for index in sorted(indexes):
                refused[index] = self._faults.draw(
                    st.sampled_from([KINESIS_THROTTLED, KINESIS_INTERNAL]), label="refusal"
                )
        accepted = [record for index, record in enumerate(Records) if index not in refused]
        written = iter(self._real.put_records(StreamName=StreamName, Records=accepted)["Records"] if accepted else ())
        results = [
            {"ErrorCode": refused[index].code, "ErrorMessage": refused[index].message}
            if index in refused
            else next(written)
            for index in range(len(Records))
        ]
        return {"FailedRecordCount": len(refused), "Records": results}


class FlakySession:
    """A boto3 session whose clients carry fault hooks, for code that builds its own clients."""

    def __init__(self, session: Any, hooks: Callable[[str, Any], None]) -> None:
        self._session = session
        self._hooks = hooks

    @property
    def unhooked(self) -> Any:
        """The session underneath, whose clients carry no fault hooks."""
        return self._session

    def client(self, name: str, **kwargs: Any) -> Any:
        """A client of the session with the fault hooks for ``name`` attached."""
        client = self._session.client(name, **kwargs)
        self._hooks(name, client)
        return client


class ScriptedFaults(Faults):
    """Faults given in advance: each ``pick`` and ``draw`` takes the next entry, None once the script ends."""

    def __init__(self, script: Sequence[Any]) -> None:
        super().__init__()
        self._script: deque[Any] = deque(script)

    @property
    def active(self) -> bool:
        return bool(self._script) and not self._paused

    def pick(self, site: str, options: Sequence[T]) -> T | None:
        if not self.active:
            return None
        chosen = self._script.popleft()
        if chosen is not None:
            assert chosen in options, (site, chosen)
            self.injected[f"{site}: {chosen.code if isinstance(chosen, AwsFault) else chosen}"] += 1
        return chosen

    def draw(self, strategy: Any, label: str) -> Any:
        del strategy, label
        return self._script.popleft()
