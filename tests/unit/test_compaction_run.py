"""The compaction run: recordings that stay pending never starve the ones behind them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib import settings
from chalicelib.compaction import Compactor, Result


class PendingIndex:
    """The sparse index, one shard holding ``keys`` oldest first; counts what is read."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.read = 0

    def pending_compaction(self, shard: str, *, idle_before: int, page: int) -> Iterator[dict[str, Any]]:
        del idle_before, page
        for key in self.keys if shard == "0" else []:
            self.read += 1
            yield {"owner": "o", "recordingId": key}


class Scripted(Compactor):
    """A compactor whose outcome per recording is given."""

    def __init__(self, index: PendingIndex, outcomes: dict[str, str]) -> None:
        super().__init__(s3=None, bucket="b", table=index, reader=None, idle_seconds=0, clock=lambda: 0)  # type: ignore[arg-type]
        self.outcomes = outcomes
        self.compacted: list[str] = []

    def compact(self, owner: str, recording_id: str, *, idle_before: int | None = None) -> Result:
        assert idle_before == 0  # the run's cutoff: the clock minus the idle time
        self.compacted.append(recording_id)
        return Result(outcome=self.outcomes.get(recording_id, "compacted"))


def test_waiting_and_failing_recordings_do_not_use_up_the_runs_bound() -> None:
    index = PendingIndex(["stuck-1", "stuck-2", "ready-1", "ready-2"])
    compactor = Scripted(index, {"stuck-1": "waiting", "stuck-2": "failed"})
    counts = compactor.run(per_shard=1)
    assert compactor.compacted == ["stuck-1", "stuck-2", "ready-1"]
    assert counts == {"waiting": 1, "failed": 1, "compacted": 1}


def test_a_run_tries_at_most_four_times_its_bound_per_shard() -> None:
    index = PendingIndex([f"stuck-{i}" for i in range(20)])
    compactor = Scripted(index, {f"stuck-{i}": "waiting" for i in range(20)})
    compactor.run(per_shard=2)
    assert len(compactor.compacted) == 8
    assert index.read == 8
    assert settings.COMPACTION_SHARDS > 1
