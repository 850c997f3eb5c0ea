"""Local delivery reproduces Firehose's partitioning from the stream's own settings."""

from __future__ import annotations

import datetime as dt

import jq

from chalicelib import layout, records
from local.delivery import expand_prefix

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def test_partition_query_and_prefix_place_records_under_their_recording() -> None:
    (line,) = records.build_records(owner="o-1", recording="rec-12345", seq=0, payload=b"x", received=1, events=1)
    keys = jq.compile(layout.PARTITION_QUERY).input_text(line.decode()).first()
    prefix = expand_prefix(layout.EVENTS_PREFIX_TEMPLATE, keys, now=NOW)
    assert prefix == layout.events_prefix("o-1", "rec-12345")


def test_error_prefix_expands_type_and_date() -> None:
    assert (
        expand_prefix(layout.ERROR_PREFIX_TEMPLATE, {}, error_type="processing-failed", now=NOW)
        == "errors/processing-failed/2026/03/04/"
    )


def test_parse_recording_key() -> None:
    key = layout.screenshot_key("o-1", "rec-12345")
    assert layout.parse_recording_key(key) == ("o-1", "rec-12345")
    assert layout.parse_recording_key("errors/x") is None
    assert layout.parse_recording_key("recordings/owner=a") is None
