"""Small JSON files that several processes change: credentials, key indexes, trust anchors.

``serve --workers 2`` and the CLI run beside each other on one data directory.  Each kept a
thread lock only and wrote through one shared ``<name>.tmp``: 60 concurrent credential changes
over two workers gave 16 × 500 (one process's ``os.replace`` took the other's temporary file),
and a read-modify-write in one process could silently undo another's — a revoked credential or
key coming back.  :func:`exclusive` serialises the read-modify-write across processes (``flock``
on a ``.lock`` beside the file); :func:`write_atomically` writes through a temporary file of
its own and renames it into place, so readers see the old file or the new one, never half.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def file_stamp(path: Path) -> tuple:
    """Identity of a file as last written (writers replace it, so the inode changes): a cache
    compares stamps to notice another process's change with one ``stat``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ()
    return st.st_ino, st.st_mtime_ns, st.st_size


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the cross-process lock of ``path`` (threads of one process exclude each other too:
    each call opens its own file description)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                      # releases the lock


# The data directory's change marker for the files the signed trust list is made of (key indexes,
# anchors, rule sets, foreign revocation lists, delegations): each writer replaces it after its
# own write, so a reader holding all their stamps checks this one per call (gateway/services/trust.py).
TRUST_INPUTS_CHANGED = "trust-inputs.changed"


def mark_changed(path: Path) -> None:
    """Replace the marker ``path``: its :func:`file_stamp` moves (a new inode every time)."""
    write_atomically(path, f"{time.time_ns()}\n")


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class JsonFile:
    """One such file holding a JSON document: read whole, changed inside :meth:`changing`
    (this process's threads and every other process wait their turn), replaced atomically.
    Subclasses name the file and say what an absent file means."""

    filename = ""
    compact = True               # public bulk data is written compactly; small lists indented
    before_write = None          # called with the new content before it is written; may refuse
    marks: str | None = None     # a change marker beside the file, replaced after each write

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / self.filename
        self._lock = threading.Lock()
        self._snapshot: tuple[tuple, Any] | None = None

    def empty(self) -> Any:
        return {}

    def load(self) -> Any:
        if not self.path.exists():
            return self.empty()
        return json.loads(self.path.read_text(encoding="utf-8"))

    def snapshot(self) -> tuple[tuple, Any]:
        """(:func:`file_stamp`, the document) as the file holds it now — read again only when the
        file changed (one ``stat``), so another process's write counts at once.  The document is
        shared between callers: read it, never change it."""
        stamp = file_stamp(self.path)
        held = self._snapshot
        if held is None or held[0] != stamp:
            held = self._snapshot = (stamp, self.load())
        return held

    @contextmanager
    def changing(self) -> Iterator[None]:
        with self._lock, exclusive(self.path):
            yield

    def _write(self, content: Any) -> None:
        if self.before_write is not None:
            self.before_write(content)
        layout = {"separators": (",", ":")} if self.compact else {"indent": 1}
        write_atomically(self.path, json.dumps(content, ensure_ascii=False, **layout))
        if self.marks is not None:
            mark_changed(self.path.with_name(self.marks))
