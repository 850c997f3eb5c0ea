"""AWS events for the in-process stack: the stream's records, and the shared payloads of tests/events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.in_process import NAMES

EVENTS = Path(__file__).resolve().parents[1] / "events"


def stream_records(session: Any) -> list[bytes]:
    """Every record currently in the stack's Kinesis stream (all shards)."""
    kinesis = session.client("kinesis")
    out: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=NAMES.stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=NAMES.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out.extend(record["Data"] for record in kinesis.get_records(ShardIterator=iterator)["Records"])
    return out


def load_event(name: str, **replace: str) -> dict[str, Any]:
    """A shared AWS event payload from tests/events, with placeholders filled in."""
    text = (EVENTS / f"{name}.json").read_text()
    for placeholder, value in replace.items():
        text = text.replace(placeholder, value)
    return json.loads(text)
