"""The local stack keeps every acknowledged batch through SIGTERM and SIGKILL, and never starts on a damaged journal."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from infra.settings import StackSettings
from local.journal import Entry
from tests.integration.load import IngestLoad, Outcome, batch, check_read_back, create_recordings, read_events
from tests.support.accounts import sign_up_and_in
from tests.support.local_stack import LOAD_ENV, ROOT, free_port, start_stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# The window of prod's unwatched consumer, which `--stack prod` runs.
PROD_WINDOW_S = StackSettings.from_stack_file(ROOT, "prod").consumer_unwatched_window_seconds
RECORDINGS = 6
THREADS = 3


def _load_then(data_dir: Path, stop_how: str) -> tuple[dict[str, str], IngestLoad]:
    stack = start_stack(data_dir, env=LOAD_ENV)
    with requests.Session() as http:
        _, owner = sign_up_and_in(stack.api, http)
    recordings = create_recordings(stack.api, owner, RECORDINGS, prefix=stop_how)
    load = IngestLoad(stack.api, owner, recordings, threads=THREADS).start()
    time.sleep(6)  # longer than a checkpoint interval: segments rotate and get truncated meanwhile
    if stop_how == "sigterm":
        stack.process.send_signal(signal.SIGTERM)
        assert stack.process.wait(timeout=120) == 0, stack.log.read_text()[-4000:]
    else:
        stack.process.kill()  # its moto child follows (parent-death signal)
        stack.process.wait(timeout=30)
    load.stop()
    return owner, load


def test_sigterm_under_load_answers_no_5xx_and_keeps_every_acknowledged_batch(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    owner, load = _load_then(data_dir, "sigterm")
    outcome = load.outcome
    assert outcome.acked_count > 50, outcome
    assert outcome.server_errors == 0, outcome.statuses
    assert set(outcome.statuses) == {202}, outcome.statuses

    again = start_stack(data_dir, env=LOAD_ENV)
    try:
        read_back = check_read_back(again.api, owner, outcome)
        assert read_back.lost == {}
        assert read_back.repeated == {}
    finally:
        again.stop()


def test_sigkill_under_load_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    owner, load = _load_then(data_dir, "sigkill")
    outcome = load.outcome
    assert outcome.acked_count > 50, outcome
    assert outcome.server_errors == 0, outcome.statuses

    again = start_stack(data_dir, env=LOAD_ENV)
    try:
        # The token issued before the kill still works: the account was saved when made.
        read_back = check_read_back(again.api, owner, outcome)
        assert read_back.lost == {}, f"{read_back.lost_count} acknowledged batches lost"
        assert read_back.repeated == {}
        # A retry of a batch acknowledged before the kill is taken again (read once).
        recording, seqs = next((r, s) for r, s in outcome.acked.items() if s)
        retried = requests.post(
            f"{again.api}/recordings/{recording}/events",
            data=batch(load.recordings.index(recording), max(seqs)),
            headers={**owner, "Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
            timeout=30,
        )
        assert retried.status_code == 202
    finally:
        again.stop()


def _wait_for_moto_to_let_go(data_dir: Path) -> None:
    # The killed stack's moto exits on its parent's death; it holds the folder until then.
    import fcntl

    with (data_dir / "aws.lock").open("a") as handle:

        def let_go() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise AssertionError("moto never let go of the data folder") from error
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True

        eventually(let_go, 60, interval=0.1)


def _start_refused(data_dir: Path) -> str:
    """Start the stack on ``data_dir`` expecting it to refuse; returns what it printed."""
    api, aws, site = free_port(), free_port(), free_port()
    log = data_dir.parent / "refused.log"
    with log.open("wb") as out:
        ports = ["--api-port", str(api), "--aws-port", str(aws), "--site-port", str(site)]
        process = subprocess.Popen(
            [sys.executable, "-m", "local", *ports, "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 150
        while process.poll() is None and time.monotonic() < deadline:
            if "local stack is up" in log.read_text():
                break
            time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
            raise AssertionError(f"the stack started on a damaged journal:\n{log.read_text()[-4000:]}")
    assert process.returncode == 2, log.read_text()[-4000:]
    return log.read_text()


def test_a_damaged_journal_stops_the_start_and_a_torn_tail_does_not(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    stack = start_stack(data_dir)
    with requests.Session() as http:
        _, owner = sign_up_and_in(stack.api, http)
    (recording,) = create_recordings(stack.api, owner, 1, prefix="journal")
    outcome = Outcome(acked={recording: set()})
    with requests.Session() as http:
        for seq in range(8):
            posted = http.post(
                f"{stack.api}/recordings/{recording}/events",
                data=batch(0, seq),
                headers={**owner, "Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
                timeout=30,
            )
            assert posted.status_code == 202, posted.text
            outcome.acked[recording].add(seq)
    stack.process.kill()  # at once: the last batches are in the journal, not yet in a snapshot
    stack.process.wait(timeout=30)
    _wait_for_moto_to_let_go(data_dir)

    segments = sorted((data_dir / "journal").glob("*.wal"))
    damaged = max(segments, key=lambda path: path.stat().st_size)
    original = damaged.read_bytes()
    assert len(original) > 200, [(path.name, path.stat().st_size) for path in segments]
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    damaged.write_bytes(bytes(flipped))

    printed = _start_refused(data_dir)
    assert str(damaged) in printed, printed[-4000:]
    assert "move the file" in printed
    assert "Traceback" not in printed, printed[-4000:]
    assert damaged.read_bytes() == bytes(flipped)  # the evidence is kept
    assert sorted((data_dir / "journal").glob("*.wal")) == segments

    # The same journal whole, with a write a kill cut short at its end: that is no damage.
    damaged.write_bytes(original)
    newest = segments[-1]
    with newest.open("ab") as out:
        out.write(Entry(meta={"method": "PUT", "path": "/cut/short"}, body=b"x" * 100).encode()[:40])
    again = start_stack(data_dir)
    try:
        read_back = check_read_back(again.api, owner, outcome)
        assert read_back.lost == {}, read_back.lost
    finally:
        again.stop()


def test_the_snapshot_is_private_and_a_flipped_byte_in_it_stops_the_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # as an earlier version left it
    stack = start_stack(data_dir)
    try:
        with requests.Session() as http:
            _, owner = sign_up_and_in(stack.api, http)
        (recording,) = create_recordings(stack.api, owner, 1, prefix="snapshot")
        posted = requests.post(
            f"{stack.api}/recordings/{recording}/events",
            data=batch(0, 0),
            headers={**owner, "Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
            timeout=30,
        )
        assert posted.status_code == 202, posted.text
    finally:
        stack.stop()  # the last checkpoint saves the snapshot

    state = data_dir / "state"
    folders = [data_dir, state, state / "s3"]
    assert {str(folder): stat.S_IMODE(folder.stat().st_mode) for folder in folders} == {
        str(folder): 0o700 for folder in folders
    }
    files = [path for path in state.rglob("*") if path.is_file()]
    assert len(files) > 2, files
    assert {str(path): stat.S_IMODE(path.stat().st_mode) for path in files} == {str(path): 0o600 for path in files}

    # A flipped byte inside a string of the items file (still JSON), then in an object file.
    (items,) = state.glob("dynamodb-items*.json")
    in_items = items.read_bytes().index(recording.encode()) + 1
    objects = max((state / "s3").iterdir(), key=lambda path: path.stat().st_size)
    for damaged, at in ((items, in_items), (objects, objects.stat().st_size // 2)):
        original = damaged.read_bytes()
        flipped = bytearray(original)
        flipped[at] ^= 0x01
        damaged.write_bytes(bytes(flipped))
        printed = _start_refused(data_dir)
        assert str(damaged) in printed, printed[-4000:]
        assert "backup" in printed
        assert "Traceback" not in printed, printed[-4000:]
        assert damaged.read_bytes() == bytes(flipped)  # the evidence is kept
        damaged.write_bytes(original)


def test_an_uploaded_asset_survives_a_sigkill_before_any_batch_names_it(tmp_path: Path) -> None:
    import hashlib

    data_dir = tmp_path / "data"
    stack = start_stack(data_dir)
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    digest = hashlib.sha256(photo).hexdigest()
    asked = {"recording": "rec-killed-0001", "assets": [{"sha256": digest, "size": len(photo), "type": "image/png"}]}
    with requests.Session() as http:
        _, owner = sign_up_and_in(stack.api, http)
        answer = http.post(f"{stack.api}/assets/missing", json=asked, headers=owner, timeout=30).json()
        (missing,) = answer["missing"]
        upload = missing["upload"]
        stored = http.put(upload["url"], data=photo, headers=upload["headers"], timeout=30)
        assert stored.status_code == 200, stored.text
    # Killed before the recorder sent the batch that references it.
    stack.process.kill()
    stack.process.wait(timeout=30)
    _wait_for_moto_to_let_go(data_dir)

    again = start_stack(data_dir)
    try:
        with requests.Session() as http:
            after = http.post(f"{again.api}/assets/missing", json=asked, headers=owner, timeout=30)
            assert after.status_code == 200, after.text
            assert after.json() == {"missing": [], "held": 1}, "the acknowledged upload was lost"
            urls = http.post(f"{again.api}/assets/urls", json={"sha256": [digest]}, headers=owner, timeout=30)
            read = http.get(urls.json()["urls"][digest], timeout=30)
            assert read.content == photo
    finally:
        again.stop()


@pytest.mark.long(seconds=90)
def test_checkpoints_keep_the_unwatched_window_and_a_sigkill_inside_it_loses_nothing(tmp_path: Path) -> None:
    """Prod's unwatched consumer gathers its window (90 s): checkpoints (every 5 s) must neither
    cut that short nor delete the journal of records still waiting in it."""
    data_dir = tmp_path / "data"
    stack = start_stack(data_dir, "--stack", "prod", env=LOAD_ENV)
    with requests.Session() as http:
        _, owner = sign_up_and_in(stack.api, http)
    (recording,) = create_recordings(stack.api, owner, 1, prefix="window")
    headers = {**owner, "Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}
    for seq in range(3):
        posted = requests.post(
            f"{stack.api}/recordings/{recording}/events", data=batch(0, seq), headers=headers, timeout=30
        )
        assert posted.status_code == 202, posted.text
    time.sleep(7)  # past a checkpoint: the journal rotated, the records still wait in the window
    assert read_events(requests.Session(), stack.api, recording, owner) == []
    stack.process.kill()
    stack.process.wait(timeout=30)

    # The journal replays the records into a fresh stream, where they wait out the window again.
    again = start_stack(data_dir, "--stack", "prod", env=LOAD_ENV)
    try:

        def all_three() -> None:
            events = read_events(requests.Session(), again.api, recording, owner)
            assert sorted({event["data"]["positions"][0]["y"] for event in events}) == [0, 1, 2]

        # The replayed records wait out the whole window again, then the consumer's invocation.
        eventually(all_three, timeout=PROD_WINDOW_S + 30, interval=2)
    finally:
        again.stop()
