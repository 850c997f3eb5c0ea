"""Where a recording's objects live in S3, and how delivery partitions records.

Every object a recording owns sits under ``recordings/owner=<o>/recording=<r>/`` so
deleting, listing and granting access follow the prefix. The Firehose settings below
are the single source for both the AWS delivery stream (Pulumi) and the local
delivery (``local/delivery.py``), so both write the same layout.
"""

from __future__ import annotations

RECORDINGS_ROOT = "recordings/"
# Page assets, per owner, named by their content's SHA-256 (``assets.py``).
ASSETS_ROOT = "assets/"
EVENTS_DIR = "events/"
SCREENSHOT_NAME = "screenshot.jpg"
ERRORS_PREFIX = "errors/"

# The archive: Firehose writes the raw stream (ingest record lines, GZIP) under an
# hour prefix of arrival time, without dynamic partitioning, so it has no partition
# ceiling. Nothing reads it on the replay path; ``ops.rebuild`` replays it.
ARCHIVE_PREFIX = "archive/"
ARCHIVE_PREFIX_TEMPLATE = "archive/!{timestamp:yyyy/MM/dd/HH}/"
ERROR_PREFIX_TEMPLATE = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"

# Objects under a recording's events/ prefix:
# - chunks the stream consumer writes, one per recording per invocation, named by the
#   shard and the first and last sequence numbers of the invocation's batch (a retried
#   invocation of the same records rewrites the same key): ``<shard>-<first>-<last>.gz``;
# - chunks rebuilt from the archive: ``archive-<digest>.gz``;
# - the compacted recording, generation g: ``compacted-<g>-<digest>.jsonl.gz`` (plain
#   rrweb events, one per line) and its index ``compacted-<g>.json``, written last and
#   only once: the index is what makes a generation exist.
CHUNK_SUFFIX = ".gz"
COMPACTED_PREFIX = "compacted-"
_GENERATION_DIGITS = 8


def recording_prefix(owner: str, recording: str) -> str:
    """The prefix holding every object of one recording."""
    return f"{RECORDINGS_ROOT}owner={owner}/recording={recording}/"


def events_prefix(owner: str, recording: str) -> str:
    """The prefix holding a recording's event objects (chunks and compacted generations)."""
    return recording_prefix(owner, recording) + EVENTS_DIR


def asset_key(owner: str, sha256: str) -> str:
    """The key of one of an owner's page assets, named by the SHA-256 of its bytes."""
    return f"{ASSETS_ROOT}owner={owner}/sha256={sha256}"


def comments_prefix(owner: str, recording: str) -> str:
    """The prefix holding a recording's comments (one object each): deleted and expired with it."""
    return recording_prefix(owner, recording) + "comments/"


def screenshot_key(owner: str, recording: str) -> str:
    """The key of a recording's thumbnail screenshot."""
    return recording_prefix(owner, recording) + SCREENSHOT_NAME


def parse_recording_key(key: str) -> tuple[str, str] | None:
    """Return (owner, recording) for a key under a recording's prefix, else None."""
    if not key.startswith(RECORDINGS_ROOT):
        return None
    parts = key[len(RECORDINGS_ROOT) :].split("/", 2)
    if len(parts) < 3 or not parts[0].startswith("owner=") or not parts[1].startswith("recording="):
        return None
    return parts[0][len("owner=") :], parts[1][len("recording=") :]


def chunk_key(owner: str, recording: str, name: str) -> str:
    """The key of one chunk object of a recording (``name`` without the suffix)."""
    return f"{events_prefix(owner, recording)}{name}{CHUNK_SUFFIX}"


def compacted_index_key(owner: str, recording: str, generation: int) -> str:
    """The key of a compacted generation's index (its commit point)."""
    return f"{events_prefix(owner, recording)}{COMPACTED_PREFIX}{generation:0{_GENERATION_DIGITS}d}.json"


def compacted_data_key(owner: str, recording: str, generation: int, digest: str) -> str:
    """The key of a compacted generation's events, named by their content's digest."""
    return f"{events_prefix(owner, recording)}{COMPACTED_PREFIX}{generation:0{_GENERATION_DIGITS}d}-{digest}.jsonl.gz"


def compacted_generation(key: str) -> tuple[int, bool] | None:
    """(generation, is_index) for a compacted object's key, else None (a chunk)."""
    name = key.rsplit("/", 1)[-1]
    if not name.startswith(COMPACTED_PREFIX):
        return None
    rest = name[len(COMPACTED_PREFIX) :]
    digits = rest[:_GENERATION_DIGITS]
    if not digits.isdigit():
        return None
    return int(digits), rest[_GENERATION_DIGITS:] == ".json"
