"""A write-ahead journal: the embedded AWS's acknowledged writes, on disk before the answer.

moto keeps everything in memory and the stack's snapshot (``persistence``) is taken
every few seconds, so a hard kill would lose the writes in between. The embedded
AWS therefore appends every data-plane write it is about to acknowledge to a segment
file here and fsyncs it before answering. Segments are numbered; a checkpoint rotates
to a new one, saves the snapshot, then deletes the older ones; at start the segments
left over are replayed on top of the snapshot.

Each entry is framed as ``<length:4><crc32:4><payload>`` (big-endian), the payload a
JSON line describing the request and then its body. A crash can leave a torn last
entry: reading stops at the first frame that is short or whose checksum does not
match, and ignores the rest of that segment.

Appends use group commit: a writer appends, then waits until an fsync that started
after its append has finished; whichever waiter finds no fsync running starts one,
and one fsync covers every entry appended before it, so concurrent requests share it.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("rrweb.journal")

_FRAME = struct.Struct(">II")
_SUFFIX = ".wal"
# A frame longer than this is garbage from a torn header, not a request moto took.
MAX_ENTRY_BYTES = 1 << 30


@dataclass(frozen=True)
class Entry:
    """One journaled request: how to send it again (``meta``) and its body."""

    meta: dict[str, Any]
    body: bytes

    def encode(self) -> bytes:
        """The framed bytes of this entry."""
        payload = json.dumps(self.meta, separators=(",", ":")).encode() + b"\n" + self.body
        return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> Iterator[Entry]:
    """The entries of one segment, in order, up to the first torn or corrupt frame."""
    entries, intact = decode(path.read_bytes())
    yield from entries
    if intact != path.stat().st_size:
        logger.warning("journal %s: ignoring a torn or corrupt tail after byte %d", path.name, intact)


def decode(data: bytes) -> tuple[list[Entry], int]:
    """The intact entries at the start of ``data``, and how many bytes they span."""
    entries = []
    at = 0
    while at + _FRAME.size <= len(data):
        length, checksum = _FRAME.unpack_from(data, at)
        start, end = at + _FRAME.size, at + _FRAME.size + length
        if length > MAX_ENTRY_BYTES or end > len(data):
            break
        payload = data[start:end]
        if zlib.crc32(payload) != checksum:
            break
        meta, _, body = payload.partition(b"\n")
        entries.append(Entry(meta=json.loads(meta), body=body))
        at = end
    return entries, at


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Numbered segment files under ``directory``; closed until ``open`` is called."""

    def __init__(self, directory: Path, *, fsync: Callable[[int], None] = os.fsync) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._cond = threading.Condition()
        self._fd: int | None = None
        self._segment = 0
        self._appended = 0  # number of the last entry written
        self._durable = 0  # entries up to this number are fsynced
        self._syncing = False
        self._broken: OSError | None = None
        self.fsyncs = 0  # how many fsyncs covered appends (group commit shares them)

    def segments(self) -> list[int]:
        """Numbers of the segment files on disk, oldest first."""
        numbers = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            stem = path.name[: -len(_SUFFIX)]
            if stem.isdigit():
                numbers.append(int(stem))
        return sorted(numbers)

    def path(self, number: int) -> Path:
        """The file of segment ``number``."""
        return self.directory / f"{number:010d}{_SUFFIX}"

    def entries(self, numbers: list[int]) -> Iterator[Entry]:
        """Every intact entry of the given segments, in order."""
        for number in numbers:
            yield from read_segment(self.path(number))

    @property
    def is_open(self) -> bool:
        """Whether appends are being written (after ``open``, until ``close``)."""
        with self._cond:
            return self._fd is not None

    @property
    def segment(self) -> int:
        """The number of the segment being written."""
        with self._cond:
            return self._segment

    def open(self) -> int:
        """Start writing a new segment after every one on disk; returns its number."""
        with self._cond:
            existing = self.segments()
            return self._start((existing[-1] if existing else 0) + 1)

    def _start(self, number: int) -> int:
        self._fd = os.open(self.path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segment = number
        _fsync_directory(self.directory)  # the new file's name survives a crash too
        return number

    def _settle(self) -> None:
        # Caller holds the condition: wait out a running fsync, then make everything
        # appended so far durable, so the current file can be closed.
        while self._syncing:
            self._cond.wait()
        if self._fd is not None and self._durable < self._appended:
            self._fsync(self._fd)
            self.fsyncs += 1
        self._durable = self._appended
        self._cond.notify_all()

    def rotate(self) -> int:
        """Close the current segment (durably) and start the next; returns its number."""
        with self._cond:
            if self._fd is None:
                raise RuntimeError("the journal is not open")
            self._settle()
            os.close(self._fd)
            return self._start(self._segment + 1)

    def delete_before(self, number: int) -> int:
        """Delete segments older than ``number`` (never the current one); returns how many."""
        deleted = 0
        with self._cond:
            for old in self.segments():
                if old < number and not (self._fd is not None and old == self._segment):
                    self.path(old).unlink(missing_ok=True)
                    deleted += 1
        if deleted:
            _fsync_directory(self.directory)
        return deleted

    def append(self, entry: Entry) -> int:
        """Write ``entry`` (not yet durable); returns the ticket to pass to ``sync``.

        Returns 0, writing nothing, while the journal is closed.
        """
        frame = entry.encode()
        with self._cond:
            if self._broken is not None:
                raise OSError(f"the journal stopped taking writes after a disk error: {self._broken}")
            if self._fd is None:
                return 0
            start = os.lseek(self._fd, 0, os.SEEK_CUR)
            view = memoryview(frame)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                # A torn frame would end replay there, hiding every later (acknowledged)
                # entry: cut it off, or refuse all writes from now on.
                try:
                    os.ftruncate(self._fd, start)
                    os.lseek(self._fd, start, os.SEEK_SET)
                except OSError:
                    self._broken = exc
                raise
            self._appended += 1
            return self._appended

    def sync(self, ticket: int) -> None:
        """Return once the entry with this ticket is on disk (group commit)."""
        with self._cond:
            while self._durable < ticket:
                if self._broken is not None:
                    raise OSError(f"the journal stopped taking writes after a disk error: {self._broken}")
                if self._syncing:
                    self._cond.wait()
                    continue
                # Lead an fsync for everything appended so far; others append meanwhile.
                self._syncing = True
                target, fd = self._appended, self._fd
                self._cond.release()
                try:
                    if fd is not None:
                        self._fsync(fd)
                except OSError as exc:
                    # After a failed fsync the kernel may drop the pages and a later
                    # fsync succeed: nothing written since can be trusted to be there.
                    self._broken = exc
                    raise
                finally:
                    self._cond.acquire()
                    self._syncing = False
                    self._cond.notify_all()
                self.fsyncs += 1
                self._durable = max(self._durable, target)

    def commit(self, entry: Entry) -> None:
        """Append and wait until durable."""
        self.sync(self.append(entry))

    def close(self) -> None:
        """Make everything durable and stop writing."""
        with self._cond:
            if self._fd is None:
                return
            self._settle()
            os.close(self._fd)
            self._fd = None
