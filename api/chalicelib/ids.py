"""The clock and the identifiers every module shares.

Wall-clock milliseconds (the unit rrweb timestamps use), fresh recording ids, the
recordings table's keys of a recording and of one batch, the order of stream sequence
numbers, and the compaction shard a recording waits in.
"""

from __future__ import annotations

import secrets
import time
import zlib

from . import settings
from .schema import RECORDINGS_KEY

# Stream sequence numbers are decimal strings of up to 128 digits; padded, they compare
# as strings in the order Kinesis gave them.
_SEQUENCE_WIDTH = 128


def now_ms() -> int:
    """Wall-clock milliseconds, the unit rrweb timestamps use."""
    return int(time.time() * 1000)


def new_id() -> str:
    """A fresh, unguessable recording id that matches the id pattern."""
    return secrets.token_urlsafe(16)


def compaction_shard(recording_id: str) -> str:
    """The index shard a recording waits for compaction in (stable per recording)."""
    return str(zlib.crc32(recording_id.encode()) % settings.COMPACTION_SHARDS)


def recording_key(owner: str, recording_id: str) -> dict[str, str]:
    """The table key of a recording's item."""
    return {RECORDINGS_KEY: f"rec#{owner}#{recording_id}"}


def sequence_order(sequence: str) -> str:
    """A stream sequence number as a string that sorts in stream order."""
    return sequence.rjust(_SEQUENCE_WIDTH, "0")
