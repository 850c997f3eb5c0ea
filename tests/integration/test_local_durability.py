"""The local stack keeps every acknowledged batch through SIGTERM and SIGKILL under load."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import LOAD_ENV, start_stack
from tests.integration.load import IngestLoad, check_read_back, create_recordings
from tests.support.accounts import sign_up_and_in

pytestmark = pytest.mark.integration

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
        # A batch the stack acknowledged is counted, so a retry of it is a duplicate...
        recording, seqs = next((r, s) for r, s in outcome.acked.items() if s)
        from tests.integration.load import batch

        retried = requests.post(
            f"{again.api}/recordings/{recording}/events",
            data=batch(load.recordings.index(recording), max(seqs)),
            headers={**owner, "Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
            timeout=30,
        )
        assert retried.status_code == 202
        assert retried.json()["duplicate"] is True
    finally:
        again.stop()
