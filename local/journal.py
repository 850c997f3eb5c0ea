"""A write-ahead journal: the embedded AWS's acknowledged writes, on disk before the answer.

moto keeps everything in memory and the stack's snapshot (``persistence``) is taken
every few seconds, so a hard kill would lose the writes in between. The embedded
AWS therefore appends every data-plane write it is about to acknowledge to a segment
file here and fsyncs it before answering. Segments are numbered; a checkpoint rotates
to a new one, saves the snapshot, then deletes the older ones; at start the segments
left over are replayed on top of the snapshot.

A segment starts with a magic line naming its format; each entry is framed as
``<length:4><crc32 of payload:4><crc32 of those 8 bytes:4><payload>`` (big-endian),
the payload a JSON line describing the request and then its body. The header's own
checksum tells the two ways a segment can end badly apart:

- a **torn tail**: a kill mid-append leaves the newest segment ending in a frame
  that is cut short (a header whose checksum holds but whose payload runs past the
  end of the file, or fewer bytes than a header), or in zeros a power loss left
  behind. That write was never acknowledged (the answer waits for the fsync): it is
  ignored, and cut off before the next segment opens, so it stays the newest's.
- **corruption**: any other frame that does not check out (a header or payload
  checksum that fails, a torn frame before the newest segment's end). Entries were
  acknowledged after it: reading raises ``CorruptJournalError``, which names the file
  and the offset, and nothing is replayed or deleted; the stack refuses to start.

Segments written before the magic existed (``<length:4><crc32:4><payload>``) are
still read, with the same rules as far as that framing can tell.

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

MAGIC = b"RRWAL2\r\n"
_FRAME = struct.Struct(">III")
_LEGACY_FRAME = struct.Struct(">II")
_SUFFIX = ".wal"
# A frame longer than this is garbage from a torn header, not a request moto took.
MAX_ENTRY_BYTES = 1 << 30


class CorruptDataError(Exception):
    """A file of the data folder that does not read back whole; the message names it and what to do."""


class CorruptJournalError(CorruptDataError):
    """A journal segment that does not read back whole: the file, where, and what to do."""

    def __init__(self, path: Path, offset: int, entries: int, why: str) -> None:
        self.path, self.offset, self.entries = path, offset, entries
        super().__init__(
            f"the journal segment {path} is corrupt at byte {offset} ({why}; {entries} intact entries before it). "
            "Acknowledged writes after that point cannot be read back, so the local stack does not start on a "
            "partial history and keeps the file as it is. Restore the data folder from a backup, or, to accept "
            "losing the writes from that point on, move the file out of the journal folder and start again."
        )


@dataclass(frozen=True)
class Entry:
    """One journaled request: how to send it again (``meta``) and its body."""

    meta: dict[str, Any]
    body: bytes

    def encode(self) -> bytes:
        """The framed bytes of this entry."""
        payload = json.dumps(self.meta, separators=(",", ":")).encode() + b"\n" + self.body
        head = struct.pack(">II", len(payload), zlib.crc32(payload))
        return head + struct.pack(">I", zlib.crc32(head)) + payload


@dataclass(frozen=True)
class Segment:
    """What one segment file holds: its intact entries, and the torn tail after them (if any)."""

    entries: list[Entry]
    intact: int  # bytes up to the end of the last intact entry
    size: int

    @property
    def torn(self) -> bool:
        """Whether an incomplete last write follows the intact entries."""
        return self.intact < self.size


def read_segment(path: Path, *, newest: bool = True) -> Iterator[Entry]:
    """The entries of one segment, in order; raises CorruptJournalError unless it reads back whole.

    Only the ``newest`` segment may end in a torn tail (it was being written when the
    process died); in an older one, every entry was made durable before the next began.
    """
    yield from scan_segment(path, newest=newest).entries


def scan_segment(path: Path, *, newest: bool = True) -> Segment:
    """Read and check one segment file (see ``read_segment``)."""
    data = path.read_bytes()
    try:
        entries, intact = decode(data)
    except _CorruptFrameError as corrupt:
        raise CorruptJournalError(path, corrupt.offset, corrupt.entries, corrupt.why) from None
    if intact < len(data) and not newest:
        raise CorruptJournalError(
            path, intact, len(entries), "it ends in an incomplete entry, but a newer segment follows it"
        )
    if intact < len(data):
        logger.info("journal %s: an incomplete last write (never acknowledged) after byte %d", path.name, intact)
    return Segment(entries=entries, intact=intact, size=len(data))


class _CorruptFrameError(Exception):
    def __init__(self, offset: int, entries: int, why: str) -> None:
        super().__init__(why)
        self.offset, self.entries, self.why = offset, entries, why


def decode(data: bytes) -> tuple[list[Entry], int]:
    """The entries of a segment's bytes, and how many bytes they span (a torn tail follows).

    Raises ``_CorruptFrameError`` (``scan_segment`` turns it into CorruptJournalError) for
    anything but a torn tail.
    """
    if data.startswith(MAGIC):
        return _decode(data, len(MAGIC), _FRAME)
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        return [], 0  # the magic itself was being written
    if len(data) >= len(MAGIC) and sum(a != b for a, b in zip(data, MAGIC, strict=False)) <= 2:
        raise _CorruptFrameError(0, 0, "the segment's format line is damaged")
    return _decode(data, 0, _LEGACY_FRAME)


def _zeros_from(data: bytes, at: int) -> bool:
    return data.count(0, at) == len(data) - at


def _decode(data: bytes, at: int, frame: struct.Struct) -> tuple[list[Entry], int]:
    entries: list[Entry] = []
    while at < len(data):
        if at + frame.size > len(data):
            break  # a header cut short: the last write was never acknowledged
        if frame is _FRAME:
            length, checksum, head_checksum = frame.unpack_from(data, at)
            if zlib.crc32(data[at : at + 8]) != head_checksum:
                if _zeros_from(data, at):
                    break  # zeros where an unacknowledged write was to go (a power loss)
                raise _CorruptFrameError(at, len(entries), "an entry header fails its checksum")
        else:
            length, checksum = frame.unpack_from(data, at)
            if length == 0 and _zeros_from(data, at):
                break
            if length > MAX_ENTRY_BYTES:
                raise _CorruptFrameError(at, len(entries), "an entry header is garbage")
        start, end = at + frame.size, at + frame.size + length
        if end > len(data):
            break  # the last entry was cut short: never acknowledged
        payload = data[start:end]
        if zlib.crc32(payload) != checksum:
            raise _CorruptFrameError(at, len(entries), "an entry fails its checksum")
        meta, _, body = payload.partition(b"\n")
        try:
            entries.append(Entry(meta=json.loads(meta), body=body))
        except ValueError:
            raise _CorruptFrameError(at, len(entries), "an entry is not a journaled request") from None
        at = end
    return entries, at


def fsync_directory(directory: Path) -> None:
    """Make the names in ``directory`` durable: a rename or a new file survives a crash only once its folder is."""
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
        """Every entry of the given segments, in order (only the newest on disk may be torn).

        Raises CorruptJournalError on a segment that does not read back whole: call
        ``check`` first to learn that before applying any of them.
        """
        newest = max(self.segments(), default=0)
        for number in numbers:
            yield from read_segment(self.path(number), newest=number == newest)

    def check(self) -> int:
        """Read every segment on disk; returns how many entries they hold.

        Raises CorruptJournalError, changing nothing, if any does not read back whole.
        """
        numbers = self.segments()
        return sum(len(scan_segment(self.path(number), newest=number == numbers[-1]).entries) for number in numbers)

    def cut_torn_tail(self) -> int:
        """Cut the newest segment's torn tail off (durably) before a newer one opens; returns the bytes cut.

        Once a newer segment exists, only corruption could end this one early.
        """
        numbers = self.segments()
        if not numbers:
            return 0
        path = self.path(numbers[-1])
        segment = scan_segment(path, newest=True)
        if not segment.torn:
            return 0
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, segment.intact)
            os.fsync(fd)
        finally:
            os.close(fd)
        logger.info("journal %s: cut an incomplete last write of %d bytes", path.name, segment.size - segment.intact)
        return segment.size - segment.intact

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
        if os.fstat(self._fd).st_size == 0:
            os.write(self._fd, MAGIC)  # made durable with the first entry's fsync
        self._segment = number
        fsync_directory(self.directory)  # the new file's name survives a crash too
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
            fsync_directory(self.directory)
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
