"""The snapshot: every file checked by SHA-256, a save killed at any step leaves a whole snapshot, files private."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from local import persistence
from local.persistence import CorruptSnapshotError, Snapshot, check_data_dir
from tests.support.in_process import NAMES

SINGLE = "recordings/owner=o/recording=r-1/chunk-1"
MULTIPART = "recordings/owner=o/recording=r-1/compacted"
BODIES = {SINGLE: b'{"type":2,"data":"single"}\n', MULTIPART: b'{"type":3,"data":"compacted"}\n' * 3}


def _empty(session: Any) -> None:
    s3, dynamodb = session.client("s3"), session.client("dynamodb")
    for entry in s3.list_objects_v2(Bucket=NAMES.bucket).get("Contents", []):
        s3.delete_object(Bucket=NAMES.bucket, Key=entry["Key"])
    for item in dynamodb.scan(TableName=NAMES.table)["Items"]:
        dynamodb.delete_item(TableName=NAMES.table, Key={"pk": item["pk"]})


def _item(n: int) -> dict[str, Any]:
    # The shape of an ingest key's item: a flipped hex digit in its hash stays valid JSON.
    secret_hash = hashlib.sha256(f"key-{n}".encode()).hexdigest()
    return {
        "pk": {"S": f"rec#o#r-{n}"},
        "owner": {"S": "o"},
        "recordingId": {"S": f"r-{n}"},
        "secretHash": {"S": secret_hash},
    }


def _put_multipart(s3: Any, key: str, body: bytes) -> None:
    upload = s3.create_multipart_upload(Bucket=NAMES.bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=NAMES.bucket, Key=key, UploadId=upload, PartNumber=1, Body=body)
    s3.complete_multipart_upload(
        Bucket=NAMES.bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )


def _state(session: Any) -> tuple[dict[str, bytes], set[str]]:
    """What the stack holds: every object's bytes, every recording item's key."""
    s3, dynamodb = session.client("s3"), session.client("dynamodb")
    objects = {
        entry["Key"]: s3.get_object(Bucket=NAMES.bucket, Key=entry["Key"])["Body"].read()
        for entry in s3.list_objects_v2(Bucket=NAMES.bucket).get("Contents", [])
    }
    return objects, {item["pk"]["S"] for item in dynamodb.scan(TableName=NAMES.table)["Items"]}


def _saved(session: Any, state: Path) -> None:
    """A snapshot with a single-part object, a multipart (compacted) one and two items."""
    s3, dynamodb = session.client("s3"), session.client("dynamodb")
    s3.put_object(Bucket=NAMES.bucket, Key=SINGLE, Body=BODIES[SINGLE])
    _put_multipart(s3, MULTIPART, BODIES[MULTIPART])
    assert s3.head_object(Bucket=NAMES.bucket, Key=MULTIPART)["ETag"].endswith('-1"')
    dynamodb.put_item(TableName=NAMES.table, Item=_item(1))
    dynamodb.put_item(TableName=NAMES.table, Item=_item(2))
    Snapshot(session=session, names=NAMES, directory=state).save()


def _object_file(state: Path, key: str) -> Path:
    """The file the manifest names for ``key``, found by its content (whatever the naming)."""
    (found,) = (path for path in (state / "s3").iterdir() if path.read_bytes() == BODIES[key])
    return found


def _json_files(state: Path) -> list[Path]:
    files = sorted(path for path in state.iterdir() if path.is_file() and path.suffix == ".json")
    assert {path.name.split("-")[0] for path in files} == {"s3", "dynamodb"}, files
    return files


def _refused(data_dir: Path) -> CorruptSnapshotError:
    with pytest.raises(CorruptSnapshotError) as refused:
        check_data_dir(data_dir)
    return refused.value


def test_a_flipped_byte_anywhere_in_a_json_file_stops_the_start_naming_it_and_keeps_it(
    aws: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    _saved(aws, state)
    check_data_dir(tmp_path)  # whole: no complaint
    for path in _json_files(state):
        whole = path.read_bytes()
        for at in range(len(whole)):
            flipped = bytearray(whole)
            flipped[at] ^= 0x01
            path.write_bytes(bytes(flipped))
            refused = _refused(tmp_path)
            assert str(path) in str(refused), (path.name, at, str(refused))
            assert "backup" in str(refused)
            assert path.read_bytes() == bytes(flipped)
        path.write_bytes(whole)
    check_data_dir(tmp_path)


@pytest.mark.parametrize("key", [SINGLE, MULTIPART])
def test_a_flipped_byte_in_an_object_file_stops_the_start_naming_it_and_keeps_it(
    aws: Any, tmp_path: Path, key: str
) -> None:
    state = tmp_path / "state"
    _saved(aws, state)
    path = _object_file(state, key)
    whole = path.read_bytes()
    for at in range(len(whole)):
        flipped = bytearray(whole)
        flipped[at] ^= 0x01
        path.write_bytes(bytes(flipped))
        refused = _refused(tmp_path)
        assert str(path) in str(refused), (at, str(refused))
        assert key in str(refused)
        assert path.read_bytes() == bytes(flipped)
    # The restore checks again: a file damaged after the start's check is not loaded either.
    _empty(aws)
    with pytest.raises(CorruptSnapshotError) as caught:
        Snapshot(session=aws, names=NAMES, directory=state).restore()
    assert str(path) in str(caught.value)


def test_a_manifest_entry_whose_file_is_missing_stops_the_start(aws: Any, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _saved(aws, state)
    path = _object_file(state, MULTIPART)
    moved = tmp_path / "moved-aside"
    path.rename(moved)
    refused = _refused(tmp_path)
    assert str(path) in str(refused)
    assert MULTIPART in str(refused)
    assert "missing" in str(refused)
    assert "backup" in str(refused)
    _empty(aws)
    with pytest.raises(CorruptSnapshotError):
        Snapshot(session=aws, names=NAMES, directory=state).restore()
    assert not path.exists()

    # Put back, it loads whole; the items file missing is refused the same way.
    moved.rename(path)
    check_data_dir(tmp_path)
    (items,) = state.glob("dynamodb-items*.json")
    items.rename(moved)
    refused = _refused(tmp_path)
    assert str(items) in str(refused)
    assert "missing" in str(refused)


class _Killed(BaseException):
    """The process died here."""


class _KilledAt:
    """The os module, except that the n-th step making something durable or visible kills the process."""

    STEPS = frozenset({"fsync", "replace", "rename", "unlink", "remove"})

    def __init__(self, step: int) -> None:
        self.step, self.steps = step, 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in self.STEPS:
            return real

        def step(*args: Any, **kwargs: Any) -> Any:
            self.steps += 1
            if self.steps == self.step:
                raise _Killed(f"killed at {name}{args}")
            return real(*args, **kwargs)

        return step


def test_a_save_killed_at_any_step_leaves_the_last_snapshot_or_the_new_one_whole(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, dynamodb = aws.client("s3"), aws.client("dynamodb")
    killed_at = 0
    for step in range(1, 200):
        state = tmp_path / f"kill-{step}" / "state"
        _empty(aws)
        _saved(aws, state)
        before = _state(aws)
        # What the next checkpoint finds: an object rewritten, one added, one deleted, items changed.
        s3.put_object(Bucket=NAMES.bucket, Key=SINGLE, Body=b'{"type":2,"data":"rewritten"}\n')
        s3.put_object(Bucket=NAMES.bucket, Key="recordings/owner=o/recording=r-3/chunk-1", Body=b"new")
        s3.delete_object(Bucket=NAMES.bucket, Key=MULTIPART)
        dynamodb.put_item(TableName=NAMES.table, Item=_item(3))
        dynamodb.delete_item(TableName=NAMES.table, Key={"pk": {"S": "rec#o#r-1"}})
        after = _state(aws)
        kill = _KilledAt(step)
        monkeypatch.setattr(persistence, "os", kill)
        try:
            Snapshot(session=aws, names=NAMES, directory=state).save()
            finished = True
        except _Killed:
            finished = False
        finally:
            monkeypatch.setattr(persistence, "os", os)

        # The next start: the snapshot checks out and loads as one whole state. Until save
        # returned, the checkpoint kept the journal segments that lead from it to ``after``.
        check_data_dir(state.parent)
        _empty(aws)
        Snapshot(session=aws, names=NAMES, directory=state).restore()
        restored = _state(aws)
        if finished:
            assert restored == after
            break
        killed_at = step
        assert restored in (before, after), f"step {step}: a mix of two snapshots"
        # ...and the next checkpoint completes over what the kill left behind.
        _empty(aws)
        for key, body in after[0].items():
            s3.put_object(Bucket=NAMES.bucket, Key=key, Body=body)
        for pk in after[1]:
            dynamodb.put_item(TableName=NAMES.table, Item=_item(int(pk.rsplit("-", 1)[1])))
        Snapshot(session=aws, names=NAMES, directory=state).save()
        check_data_dir(state.parent)
        _empty(aws)
        Snapshot(session=aws, names=NAMES, directory=state).restore()
        assert _state(aws) == after
        assert not [path.name for path in state.rglob("*.tmp")]
    assert killed_at >= 5, f"only {killed_at} steps to kill at: the save's steps were not reached"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_snapshot_is_private_new_or_left_by_an_earlier_version(aws: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    state = data_dir / "state"
    old = os.umask(0o022)
    try:
        # An earlier version's folder: 0755 folders, 0644 files.
        (state / "s3").mkdir(parents=True)
        for folder in (data_dir, state, state / "s3"):
            folder.chmod(0o755)
        (state / "s3" / "leftover").write_bytes(b"x")
        (state / "s3" / "leftover").chmod(0o644)
        persistence.prepare_data_dir(data_dir)
        assert [_mode(folder) for folder in (data_dir, state, state / "s3")] == [0o700] * 3
        assert _mode(state / "s3" / "leftover") == 0o600

        fresh = tmp_path / "fresh" / "state"
        _saved(aws, fresh)
        assert _mode(fresh) == _mode(fresh / "s3") == 0o700
        files = [path for path in fresh.rglob("*") if path.is_file()]
        assert len(files) == 4, files
        assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}
    finally:
        os.umask(old)


def _write_earlier_format(state: Path) -> dict[str, bytes]:
    """What the earlier version saved: plain JSON, files named after their keys, 0644."""
    bodies = {SINGLE: b"single", MULTIPART: b"compacted"}
    etags = {SINGLE: f'"{hashlib.md5(b"single").hexdigest()}"', MULTIPART: '"0123456789abcdef0123456789abcdef-2"'}  # noqa: S324
    (state / "s3").mkdir(parents=True)
    for key, body in bodies.items():
        (state / "s3" / quote(key, safe="")).write_bytes(body)
    manifest = {key: {"etag": etags[key], "type": "application/json"} for key in bodies}
    # An entry its save deleted the file of before the kill that kept its manifest from being rewritten.
    manifest["recordings/owner=o/recording=r-0/chunk-1"] = {"etag": '"00"', "type": "application/json"}
    (state / "s3-manifest.json").write_text(json.dumps(manifest))
    (state / "dynamodb-items.json").write_text(json.dumps({NAMES.table: [_item(1)], NAMES.access_table: []}))
    return bodies


def test_a_snapshot_of_the_earlier_format_loads_and_the_next_save_rewrites_it_with_checksums(
    aws: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    bodies = _write_earlier_format(state)
    check_data_dir(tmp_path)
    _empty(aws)
    assert Snapshot(session=aws, names=NAMES, directory=state).restore() == 1
    assert _state(aws) == (bodies, {"rec#o#r-1"})

    Snapshot(session=aws, names=NAMES, directory=state).save()
    manifest = (state / "s3-manifest.json").read_bytes()
    body, checksum = manifest.rstrip(b"\n").rsplit(b"\n", 1)
    assert checksum == b"sha256 " + hashlib.sha256(body + b"\n").hexdigest().encode()
    assert {entry["sha256"] for entry in json.loads(body)["objects"].values()} == {
        hashlib.sha256(data).hexdigest() for data in bodies.values()
    }
    # The earlier files are gone once the new manifest is durable; the snapshot now checks out byte by byte.
    assert not (state / "dynamodb-items.json").exists()
    assert not [path for path in (state / "s3").iterdir() if path.name in {quote(key, safe="") for key in bodies}]
    check_data_dir(tmp_path)
    _empty(aws)
    assert Snapshot(session=aws, names=NAMES, directory=state).restore() == 1
    assert _state(aws) == (bodies, {"rec#o#r-1"})
