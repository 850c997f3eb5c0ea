"""Steady ingest against a running local stack, and the check that acknowledged batches read back.

Used by the durability tests and ``python -m bench.durability``: a few threads post
small gzip batches round-robin over their recordings and remember which seqs got 202;
afterwards every recording is read back and each event is traced to its batch.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

EVENTS_PER_BATCH = 3


def batch(recording_index: int, seq: int) -> bytes:
    """A gzip batch whose events say which recording and seq they belong to."""
    events = [
        {
            "type": 3,
            "timestamp": 1_700_000_000_000 + seq * 10 + n,
            "data": {"source": 1, "positions": [{"x": recording_index, "y": seq, "id": n, "timeOffset": 0}]},
        }
        for n in range(EVENTS_PER_BATCH)
    ]
    return gzip.compress(json.dumps({"seq": seq, "events": events}).encode())


@dataclass
class Outcome:
    """What the load saw: acknowledged seqs per recording, statuses, errors, latencies."""

    acked: dict[str, set[int]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    first_ack: float = 0.0
    last_ack: float = 0.0

    @property
    def acked_count(self) -> int:
        """Batches answered 202."""
        return sum(len(seqs) for seqs in self.acked.values())

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status."""
        return sum(count for status, count in self.statuses.items() if status >= 500)


class IngestLoad:
    """Threads posting batches until ``stop``; ``recordings`` are split between them."""

    def __init__(self, api: str, headers: dict[str, str], recordings: list[str], *, threads: int) -> None:
        self.api = api
        self.headers = headers
        self.recordings = recordings
        self.outcome = Outcome(acked={recording: set() for recording in recordings})
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, args=(recordings[i::threads],), daemon=True) for i in range(threads)
        ]

    def start(self) -> IngestLoad:
        """Start posting."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Outcome:
        """Stop posting and wait for the threads; returns what they saw."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        return self.outcome

    def _work(self, mine: list[str]) -> None:
        seqs = dict.fromkeys(mine, 0)
        with requests.Session() as http:
            http.headers.update(
                {**self.headers, "Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}
            )
            while not self._stop.is_set():
                for recording in mine:
                    if self._stop.is_set():
                        return
                    seq = seqs[recording]
                    seqs[recording] += 1
                    body = batch(self.recordings.index(recording), seq)
                    started = time.perf_counter()
                    try:
                        response = http.post(f"{self.api}/recordings/{recording}/events", data=body, timeout=60)
                    except requests.ConnectionError:
                        with self._lock:
                            self.outcome.connection_errors += 1
                        time.sleep(0.05)  # the stack is stopping or gone; keep probing lightly
                        continue
                    elapsed = time.perf_counter() - started
                    with self._lock:
                        self.outcome.statuses[response.status_code] += 1
                        if response.status_code == 202:
                            self.outcome.acked[recording].add(seq)
                            self.outcome.latencies.append(elapsed)
                            now = time.monotonic()
                            self.outcome.first_ack = self.outcome.first_ack or now
                            self.outcome.last_ack = now


def read_events(http: requests.Session, api: str, recording: str, headers: dict[str, str]) -> list[Any]:
    """Every event of a recording, following the cursor."""
    events: list[Any] = []
    cursor = None
    while True:
        response = http.get(
            f"{api}/recordings/{recording}/events", params={"after": cursor} if cursor else None, headers=headers
        )
        assert response.status_code == 200, response.text
        events += [json.loads(line) for line in response.content.splitlines()]
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            return events


@dataclass
class ReadBack:
    """Acknowledged batches missing or repeated after reading everything back."""

    lost: dict[str, list[int]]
    repeated: dict[str, list[int]]
    readable: int

    @property
    def lost_count(self) -> int:
        """Acknowledged batches not (completely) readable."""
        return sum(len(seqs) for seqs in self.lost.values())


def check_read_back(api: str, headers: dict[str, str], outcome: Outcome, *, wait: float = 60.0) -> ReadBack:
    """Read every recording until all acknowledged batches are there (or ``wait`` passes)."""
    deadline = time.monotonic() + wait
    with requests.Session() as http:
        while True:
            lost: dict[str, list[int]] = {}
            repeated: dict[str, list[int]] = {}
            readable = 0
            for recording, acked in outcome.acked.items():
                counts = Counter(
                    event["data"]["positions"][0]["y"] for event in read_events(http, api, recording, headers)
                )
                readable += sum(1 for count in counts.values() if count >= EVENTS_PER_BATCH)
                missing = sorted(seq for seq in acked if counts.get(seq, 0) < EVENTS_PER_BATCH)
                twice = sorted(seq for seq, count in counts.items() if count > EVENTS_PER_BATCH)
                if missing:
                    lost[recording] = missing
                if twice:
                    repeated[recording] = twice
            if (not lost and not repeated) or time.monotonic() > deadline:
                return ReadBack(lost=lost, repeated=repeated, readable=readable)
            time.sleep(0.5)


def create_recordings(api: str, headers: dict[str, str], count: int, prefix: str) -> list[str]:
    """``count`` recordings with ids of our own."""
    ids = []
    with requests.Session() as http:
        for n in range(count):
            response = http.post(f"{api}/recordings", json={"id": f"{prefix}-{n:03d}"}, headers=headers, timeout=30)
            assert response.status_code in (200, 201), response.text
            ids.append(response.json()["recording"]["id"])
    return ids
