"""The embedded AWS's write-ahead journal: framing, torn tails, group commit, segments."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from local.journal import MAGIC, CorruptJournalError, Entry, Journal, decode, read_segment


def entry(n: int, size: int = 10) -> Entry:
    return Entry(meta={"method": "PUT", "path": f"/bucket/key-{n}", "n": n}, body=bytes([n % 256]) * size)


def test_appended_entries_read_back_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.open() == 1
    for n in range(5):
        journal.commit(entry(n))
    journal.close()
    got = list(journal.entries(journal.segments()))
    assert [e.meta["n"] for e in got] == [0, 1, 2, 3, 4]
    assert got[3].body == b"\x03" * 10


def test_a_closed_journal_writes_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.commit(entry(1))  # before open: the stack restores its snapshot unjournaled
    assert journal.segments() == []


def three_entries(tmp_path: Path) -> Path:
    """A closed segment holding entries 0, 1 and 2 of 100 bytes each; returns its path."""
    journal = Journal(tmp_path)
    journal.open()
    for n in range(3):
        journal.commit(entry(n, size=100))
    journal.close()
    return journal.path(1)


def test_a_torn_tail_is_ignored_and_what_precedes_it_kept(tmp_path: Path) -> None:
    path = three_entries(tmp_path)
    whole = path.read_bytes()
    for cut in (1, 7, 11, 12, 50, len(entry(2, 100).encode()) - 1):
        path.write_bytes(whole[:-cut])
        assert [e.meta["n"] for e in read_segment(path)] == [0, 1]
    # Zeros where an unacknowledged write was to go (a power loss after the file grew).
    path.write_bytes(whole + b"\0" * 4096)
    assert [e.meta["n"] for e in read_segment(path)] == [0, 1, 2]


def _flipped(path: Path, at: int) -> bytes:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_corrupt_entry_stops_the_read_naming_the_file(tmp_path: Path) -> None:
    path = three_entries(tmp_path)
    second = len(MAGIC) + len(entry(0, 100).encode())
    # A flipped byte in the second entry's payload, then in its length (which would
    # otherwise pass for an entry cut short), then in the magic line.
    for at in (second + 40, second + 1, 2):
        original = path.read_bytes()
        damaged = _flipped(path, at)
        with pytest.raises(CorruptJournalError) as caught:
            list(read_segment(path))
        assert str(path) in str(caught.value)
        assert "move the file" in str(caught.value)
        assert path.read_bytes() == damaged  # nothing is cut or deleted
        path.write_bytes(original)


def test_only_the_newest_segment_may_end_torn(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.commit(entry(0))
    journal.commit(entry(1))
    journal.close()
    first = journal.path(1)
    first.write_bytes(first.read_bytes()[:-3])  # a kill mid-append
    assert journal.check() == 1
    # A restart cuts the torn tail off before it opens the next segment...
    assert journal.cut_torn_tail() == len(entry(1).encode()) - 3
    assert journal.open() == 2
    journal.commit(entry(2))
    journal.close()
    assert [e.meta["n"] for e in journal.entries(journal.segments())] == [0, 2]
    # ...so a segment that ends short with a newer one after it is damage, not a kill.
    first.write_bytes(first.read_bytes()[:-3])
    with pytest.raises(CorruptJournalError):
        journal.check()


def test_segments_written_before_the_magic_still_read(tmp_path: Path) -> None:
    def legacy(e: Entry) -> bytes:
        payload = json.dumps(e.meta, separators=(",", ":")).encode() + b"\n" + e.body
        return struct.pack(">II", len(payload), zlib.crc32(payload)) + payload

    path = tmp_path / "0000000001.wal"
    path.write_bytes(legacy(entry(0)) + legacy(entry(1)) + legacy(entry(2))[:-4])
    assert [e.meta["n"] for e in read_segment(path)] == [0, 1]


def test_group_commit_shares_fsyncs_and_returns_only_once_durable(tmp_path: Path) -> None:
    durable = {"size": 0}
    lock = threading.Lock()

    def slow_fsync(fd: int) -> None:
        size = os.fstat(fd).st_size  # what this fsync covers: everything written before it
        time.sleep(0.02)
        os.fsync(fd)
        with lock:
            durable["size"] = max(durable["size"], size)

    journal = Journal(tmp_path, fsync=slow_fsync)
    journal.open()
    failures: list[str] = []

    def writer(n: int) -> None:
        journal.commit(entry(n, size=50))
        with lock:
            covered = journal.path(1).read_bytes()[: durable["size"]]
        if n not in [e.meta["n"] for e in decode(covered)[0]]:
            failures.append(f"entry {n} returned before an fsync covered it")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert journal.fsyncs < 32 / 2, f"{journal.fsyncs} fsyncs for 32 concurrent commits"
    journal.close()
    assert sorted(e.meta["n"] for e in journal.entries(journal.segments())) == list(range(32))


def test_rotation_splits_segments_and_truncation_keeps_the_current(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.commit(entry(1))
    assert journal.rotate() == 2
    journal.commit(entry(2))
    assert [e.meta["n"] for e in read_segment(journal.path(1))] == [1]
    assert [e.meta["n"] for e in read_segment(journal.path(2))] == [2]
    assert journal.delete_before(3) == 1  # segment 2 is being written: kept
    assert journal.segments() == [2]
    journal.close()
    # A new process continues after the last segment, leaving the old ones to replay.
    again = Journal(tmp_path)
    assert again.open() == 3
    assert [e.meta["n"] for e in again.entries([2])] == [2]


def test_a_failed_write_leaves_no_torn_frame_before_later_entries(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.commit(entry(1))
    # A disk that takes part of a frame, then fails, as a full disk does.
    real_write = os.write
    calls = {"n": 0}

    def partial_then_fail(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            real_write(fd, bytes(data[:7]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "write", partial_then_fail)
        with pytest.raises(OSError, match="No space left"):
            journal.commit(entry(2))
    journal.commit(entry(3))
    journal.close()
    assert [e.meta["n"] for e in journal.entries(journal.segments())] == [1, 3]


def test_after_a_failed_fsync_nothing_more_is_acknowledged(tmp_path: Path) -> None:
    failing = {"on": False}

    def fsync(fd: int) -> None:
        if failing["on"]:
            raise OSError(5, "Input/output error")
        os.fsync(fd)

    journal = Journal(tmp_path, fsync=fsync)
    journal.open()
    journal.commit(entry(1))
    failing["on"] = True
    with pytest.raises(OSError, match="Input/output error"):
        journal.commit(entry(2))
    failing["on"] = False  # the kernel may have dropped the pages: a later fsync proves nothing
    with pytest.raises(OSError, match="stopped taking writes"):
        journal.commit(entry(3))
    journal.close()
