"""A snapshot save cut short by a kill restores cleanly; a damaged snapshot stops the start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local import persistence
from local.persistence import CorruptSnapshotError, Snapshot, check_data_dir
from tests.conftest import NAMES


def _empty(session: Any) -> None:
    s3, dynamodb = session.client("s3"), session.client("dynamodb")
    for entry in s3.list_objects_v2(Bucket=NAMES.bucket).get("Contents", []):
        s3.delete_object(Bucket=NAMES.bucket, Key=entry["Key"])
    for item in dynamodb.scan(TableName=NAMES.table)["Items"]:
        dynamodb.delete_item(TableName=NAMES.table, Key={"pk": item["pk"]})


def _item(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"rec#o#r-{n}"}, "owner": {"S": "o"}, "recordingId": {"S": f"r-{n}"}}


def test_a_save_killed_midway_restores_cleanly(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, dynamodb = aws.client("s3"), aws.client("dynamodb")
    snapshot = Snapshot(session=aws, names=NAMES, directory=tmp_path)
    s3.put_object(Bucket=NAMES.bucket, Key="a", Body=b"first")
    dynamodb.put_item(TableName=NAMES.table, Item=_item(1))
    snapshot.save()

    s3.put_object(Bucket=NAMES.bucket, Key="b", Body=b"second")
    dynamodb.put_item(TableName=NAMES.table, Item=_item(2))
    real = persistence._write_atomically

    def killed_at_the_manifest(path: Path, data: bytes) -> None:
        if path.name == "s3-manifest.json":
            # The kill lands mid-write: half a temporary file, never renamed.
            path.with_name(path.name + ".tmp").write_bytes(data[: len(data) // 2])
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(persistence, "_write_atomically", killed_at_the_manifest)
    with pytest.raises(KeyboardInterrupt):
        snapshot.save()
    monkeypatch.setattr(persistence, "_write_atomically", real)
    (tmp_path / "dynamodb-items.json.tmp").write_bytes(b'{"torn')  # a torn temporary from an earlier kill

    _empty(aws)
    restored = Snapshot(session=aws, names=NAMES, directory=tmp_path).restore()
    # Items of the cut save, objects of the last whole one: the journal covers the rest.
    assert restored == 2
    assert s3.get_object(Bucket=NAMES.bucket, Key="a")["Body"].read() == b"first"
    # The next save completes and its snapshot restores everything.
    s3.put_object(Bucket=NAMES.bucket, Key="b", Body=b"second")
    Snapshot(session=aws, names=NAMES, directory=tmp_path).save()
    _empty(aws)
    assert Snapshot(session=aws, names=NAMES, directory=tmp_path).restore() == 2
    assert {e["Key"] for e in s3.list_objects_v2(Bucket=NAMES.bucket)["Contents"]} == {"a", "b"}


def test_a_damaged_snapshot_stops_the_start_naming_the_file_and_keeps_it(aws: Any, tmp_path: Path) -> None:
    s3, dynamodb = aws.client("s3"), aws.client("dynamodb")
    state = tmp_path / "state"
    s3.put_object(Bucket=NAMES.bucket, Key="recordings/a", Body=b"first")
    dynamodb.put_item(TableName=NAMES.table, Item=_item(1))
    Snapshot(session=aws, names=NAMES, directory=state).save()
    check_data_dir(tmp_path)  # whole: no complaint

    items = state / "dynamodb-items.json"
    whole = items.read_bytes()
    items.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptSnapshotError) as refused:
        check_data_dir(tmp_path)
    assert str(items) in str(refused.value)
    assert "backup" in str(refused.value)
    assert items.read_bytes() == whole[: len(whole) // 2]
    items.write_bytes(whole)

    # An object whose bytes are not the ones its manifest recorded.
    (obj,) = (state / "s3").iterdir()
    obj.write_bytes(b"fir5t")
    _empty(aws)
    with pytest.raises(CorruptSnapshotError) as refused:
        Snapshot(session=aws, names=NAMES, directory=state).restore()
    assert str(obj) in str(refused.value)
    assert obj.read_bytes() == b"fir5t"
