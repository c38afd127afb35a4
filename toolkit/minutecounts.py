"""Per-minute counts shared by every process on one data directory.

The anonymous limits (verifications, a stranger's refused lookups, a credential's audited
refusals) are keyed on who the caller is, not on which process answered it: counted in each
process's memory, ``make run``'s two gunicorn workers gave an anonymous client twice its limit,
and ``deploy/``'s instances on one host multiplied it again.  :class:`SharedMinuteCounts` is one
fixed table in a file of the data directory, mapped into every process (``mmap``, shared): a
count is a few memory reads and writes under a lock, with no file read or write per request
(the kernel writes the mapped pages back in the background).

* Bounded: :data:`SLOTS` slots of 16 bytes (2 MB), whatever the number of callers.  A key's slot
  is found by open addressing over at most :data:`PROBES` slots from a keyed BLAKE2b of the key
  (its secret is made with the table, so nobody can aim keys at one slot chain).  A slot of an
  earlier minute is free.  When all are taken this minute, the one with the lowest count is
  reused: a flood of new callers resets the lightest callers' counts, never a heavy caller's.
* Locked: a thread lock within the process and a POSIX record lock (``lockf``) across processes;
  the kernel drops a record lock when its process dies, so a worker killed mid-count blocks
  nobody.
* One minute is the window of the caller's clock: every process of a gateway reads the same one.
"""
from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import mmap
import os
import secrets
import threading
from pathlib import Path

MAGIC = b"HCMINUT1"
SLOTS = 1 << 17
PROBES = 16
HEADER = 64                   # magic (8), slot count (4), reserved (4), secret (16), reserved (32)
MAX_COUNT = 0xFFFFFFFF
TAGS_REMEMBERED = 4096


class TableUnusable(OSError):
    """The file exists but is not a table of this layout (left as it is; count in memory)."""


class SharedMinuteCounts:
    """``add(key, window, amount)`` → the key's count in ``window`` (a minute number), every
    process on the file counting together."""

    def __init__(self, path: Path, slots: int = SLOTS, probes: int = PROBES):
        if slots & (slots - 1):
            raise ValueError("slots must be a power of two")
        self.path, self.slots, self.probes = Path(path), slots, probes
        self._size = HEADER + 16 * slots
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._secret = self._prepare()
            self._map = mmap.mmap(self._fd, self._size)
        except BaseException:
            os.close(self._fd)
            raise
        self._view = view = memoryview(self._map)
        self._keys = view[HEADER:HEADER + 8 * slots].cast("Q")
        self._windows = view[HEADER + 8 * slots:HEADER + 12 * slots].cast("I")
        self._counts = view[HEADER + 12 * slots:HEADER + 16 * slots].cast("I")
        self._lock = threading.Lock()
        self._closed = False
        # a checkpoint's gates come back again and again: their tags are remembered, boundedly
        self._tag = functools.lru_cache(maxsize=TAGS_REMEMBERED)(self._tag_of)

    def _prepare(self) -> bytes:
        """The table's secret, laying the table out first if the file is new.  A file of another
        size or layout is never truncated: another process may have it mapped."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(self._fd).st_size
            if size == 0:
                self._allocate()
            elif size != self._size:
                raise TableUnusable(f"{self.path} is not a table of {self.slots} slots")
            header = os.pread(self._fd, HEADER, 0)
            if header[:8] == MAGIC and int.from_bytes(header[8:12], "little") == self.slots:
                return header[16:32]
            if header.strip(b"\0"):
                raise TableUnusable(f"{self.path} is not a minute-count table")
            secret = secrets.token_bytes(16)                  # new, or laid out by a process that died
            os.pwrite(self._fd, MAGIC + self.slots.to_bytes(4, "little") + bytes(4) + secret, 0)
            return secret
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def _tag_of(self, key: str) -> int:
        """The key's 64-bit tag (never 0, which marks a slot never used)."""
        return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8,
                                              key=self._secret).digest(), "little") | 1

    def _allocate(self) -> None:
        """Every block allocated up front (``posix_fallocate``; the C library writes zeros where
        the file system cannot), never a sparse file: a page of a mapping with no disk block
        behind it would kill the process (SIGBUS) when first written on a full disk.  A disk
        already full leaves the file empty, for the next process to try again."""
        try:
            os.posix_fallocate(self._fd, 0, self._size)
        except OSError:
            os.ftruncate(self._fd, 0)
            raise

    def add(self, key: str, window: int, amount: int = 1) -> int:
        tag = self._tag(key)
        mask = self.slots - 1
        start = tag >> 17
        window &= 0xFFFFFFFF
        keys, windows, counts = self._keys, self._windows, self._counts
        with self._lock:
            if self._closed:
                raise OSError(errno.EBADF, "the minute-count table is closed")
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                free = lightest = -1
                for step in range(self.probes):
                    slot = (start + step) & mask
                    held = keys[slot]
                    if held == tag:
                        count = min((counts[slot] if windows[slot] == window else 0) + amount, MAX_COUNT)
                        windows[slot], counts[slot] = window, count
                        return count
                    if held == 0:                 # never used: the key is in no slot after it
                        if free < 0:
                            free = slot
                        break
                    if windows[slot] != window:
                        if free < 0:
                            free = slot
                    elif lightest < 0 or counts[slot] < counts[lightest]:
                        lightest = slot
                slot = free if free >= 0 else lightest
                count = min(amount, MAX_COUNT)
                keys[slot], windows[slot], counts[slot] = tag, window, count
                return count
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Unmapped once no count is running; a later ``add`` raises OSError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for view in (self._keys, self._windows, self._counts, self._view):
                view.release()
            self._map.close()
            os.close(self._fd)
