"""Where a recording's objects live in S3, and how delivery partitions records.

Every object a recording owns sits under ``recordings/owner=<o>/recording=<r>/`` so
deleting, listing and granting access follow the prefix. The Firehose settings below
are the single source for both the AWS delivery stream (Pulumi) and the local
delivery (``local/delivery.py``), so both write the same layout.
"""

from __future__ import annotations

RECORDINGS_ROOT = "recordings/"
EVENTS_DIR = "events/"
SCREENSHOT_NAME = "screenshot.jpg"
ERRORS_PREFIX = "errors/"

# Firehose dynamic partitioning: the JQ query pulls the partition keys out of each
# ingest record, and the prefix places the record's object under its recording.
PARTITION_QUERY = "{owner: .owner, recording: .recording}"
EVENTS_PREFIX_TEMPLATE = (
    "recordings/owner=!{partitionKeyFromQuery:owner}/recording=!{partitionKeyFromQuery:recording}/events/"
)
ERROR_PREFIX_TEMPLATE = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
# The delivery stream's record processors, in the Firehose API's shape: partition
# keys by JQ, and a newline after every record so objects are JSON lines.
FIREHOSE_PROCESSORS = [
    {
        "Type": "MetadataExtraction",
        "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": PARTITION_QUERY},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
        ],
    },
    {"Type": "AppendDelimiterToRecord", "Parameters": []},
]


def recording_prefix(owner: str, recording: str) -> str:
    """The prefix holding every object of one recording."""
    return f"{RECORDINGS_ROOT}owner={owner}/recording={recording}/"


def events_prefix(owner: str, recording: str) -> str:
    """The prefix the delivery stream writes a recording's event chunks under."""
    return recording_prefix(owner, recording) + EVENTS_DIR


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
