"""``python -m ops.rebuild`` restores lost event objects from the raw archive.

Its ``main`` runs in process against moto, the way an operator runs it for a deployed
stack (names from the environment); the ``--local`` target is checked apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib import layout
from chalicelib.aws import get_services
from local.resources import Names
from ops import rebuild
from tests.support import rrweb_stream
from tests.support.http import create_recording, post_gzip, read_events
from tests.support.in_process import NAMES


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = rebuild.main(list(argv))
    return status, json.loads(capsys.readouterr().out)


def lose_chunks(bucket_keys: Any, owner: str, recording_id: str) -> list[str]:
    """Delete a recording's chunk objects, as if the consumer had skipped its records."""
    keys = bucket_keys(layout.events_prefix(owner, recording_id))
    s3 = get_services().s3
    for key in keys:
        s3.delete_object(Bucket=NAMES.bucket, Key=key)
    return keys


@pytest.fixture
def recorded(client: Any, deliver: Any, archive: Any) -> tuple[str, list[Any]]:
    """A recording whose batches the consumer stored and the delivery stream archived."""
    recording_id = create_recording(client)
    stream = rrweb_stream.session(sections=4, incremental=200)
    for seq, events in enumerate(rrweb_stream.batches(stream, 8)):
        assert (
            post_gzip(client, f"/recordings/{recording_id}/events", {"seq": seq, "events": events}).status_code == 202
        )
    deliver()
    assert archive() > 0
    assert read_events(client, recording_id) == stream
    return recording_id, stream


def test_one_recording_is_rebuilt_from_the_archive_and_reads_back_identically(
    client: Any, owner: str, recorded: tuple[str, list[Any]], bucket_keys: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    recording_id, stream = recorded
    assert lose_chunks(bucket_keys, owner, recording_id)
    assert read_events(client, recording_id) == []

    # "=" form: a random id may start with "-", which argparse would take for an option.
    status, report = run(capsys, f"--recording={recording_id}", "--owner", owner)
    assert status == 0
    assert report["target"] == {"bucket": NAMES.bucket, "table": NAMES.table, "region": "us-east-1", "endpoint": None}
    assert report["recording"] == {"owner": owner, "id": recording_id}
    assert report["read"] == {"archiveObjects": 1}
    assert report["wrote"]["recordings"] == [recording_id]
    assert report["wrote"]["chunks"] == 1
    assert report["wrote"]["records"] >= 8
    assert report["skipped"] == {"recordsOfDeletedRecordings": 0, "invalidLines": 0}
    assert read_events(client, recording_id) == stream

    # A rerun rewrites the same keys: nothing new is stored, nothing is served twice.
    keys = bucket_keys(layout.events_prefix(owner, recording_id))
    assert run(capsys, f"--recording={recording_id}", "--owner", owner)[0] == 0
    assert bucket_keys(layout.events_prefix(owner, recording_id)) == keys
    assert read_events(client, recording_id) == stream


def test_hours_of_the_archive_rebuild_every_recording_in_them(
    client: Any, owner: str, recorded: tuple[str, list[Any]], bucket_keys: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    recording_id, stream = recorded
    # A compacted recording too: the rebuilt chunk joins it, and it reads back the same.
    assert get_services().compactor.compact(owner, recording_id).outcome == "compacted"
    lose_chunks(bucket_keys, owner, recording_id)
    (archived,) = bucket_keys(layout.ARCHIVE_PREFIX)
    year, month, day, hour = archived.split("/")[1:5]

    status, report = run(capsys, "--since", f"{year}-{month}-{day}T{hour}", "--until", f"{year}-{month}-{day}T{hour}")
    assert status == 0
    assert report["hours"] == [f"archive/{year}/{month}/{day}/{hour}/"]
    assert (report["read"], report["wrote"]["recordings"]) == ({"archiveObjects": 1}, [recording_id])
    assert read_events(client, recording_id) == stream

    # An hour with nothing archived reads and writes nothing.
    status, report = run(capsys, "--since", "2001-01-01T00")
    assert (status, report["read"], report["wrote"]["chunks"]) == (0, {"archiveObjects": 0}, 0)


def test_a_recording_that_does_not_exist_is_an_error_not_an_empty_success(
    owner: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = run(capsys, "--recording", "no-such-recording", "--owner", owner)
    assert status == 1
    assert "no such recording" in report["error"]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--recording", "r"],  # which owner?
        ["--owner", "o"],
        ["--until", "2026-11-23T10", "--recording", "r"],
        ["--since", "2026-11-23T12", "--until", "2026-11-23T10"],
        ["--since", "yesterday"],
    ],
)
def test_incomplete_or_contradictory_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        rebuild.main(argv, environ={"RRWEB_BUCKET": "b", "RRWEB_TABLE": "t"})
    assert exited.value.code == 2


def test_without_the_environment_it_names_the_variables_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        rebuild.main(["--since", "2026-11-23T10"], environ={"RRWEB_TABLE": "t"})
    assert "RRWEB_BUCKET" in capsys.readouterr().err
    help_text = rebuild.parser().format_help()
    for variable in ("RRWEB_BUCKET", "RRWEB_TABLE", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        assert variable in help_text


def test_the_local_target_is_the_running_stacks_names_credentials_and_port(tmp_path: Path) -> None:
    (tmp_path / "aws-credentials.json").write_text(json.dumps({"accessKeyId": "local", "secretAccessKey": "s" * 43}))
    target = rebuild.Target.local(data_dir=tmp_path, stack="local", host="127.0.0.1", aws_port=5123)
    names = Names.for_stack("local")
    assert (target.bucket, target.table, target.endpoint) == (names.bucket, names.table, "http://127.0.0.1:5123")
    assert target.credentials == {"aws_access_key_id": "local", "aws_secret_access_key": "s" * 43}
    assert "s" * 43 not in json.dumps(target.describe())
    with pytest.raises(ValueError, match="data folder"):
        rebuild.Target.local(data_dir=tmp_path / "elsewhere", stack="local", host="127.0.0.1", aws_port=5123)


def test_utc_hours_parse_as_utc() -> None:
    assert rebuild.utc_hour("2026-11-23T10").isoformat() == "2026-11-23T10:00:00+00:00"
    assert rebuild.utc_hour("2026-11-23T12:30:00+02:00").isoformat() == "2026-11-23T10:30:00+00:00"
