"""When a gateway process must re-sign the trust list, and which ``seq`` the new list gets.

Two attacks on a gateway with several processes (``serve --workers 2``):

* a key revoked in one worker kept verifying green in the other for up to its 60 s cache, and
  that worker kept handing out the list without the revocation.  So a process re-signs as soon
  as anything the list is made of changed on disk — a key index (``keys/<owner>/keys.json``,
  rewritten by rotation and revocation) or the trust-anchor file — one ``stat`` each per call.
* ``seq`` was the build time in seconds: a list built in the same second as a revocation, before
  it, had the *same* ``seq`` as the list after it, so an offline verifier that already had the
  new one still accepted the replayed old one (and its ETag answered 304 to a changed list).
  :func:`next_seq` hands out strictly increasing numbers for one data directory, across
  processes: ``max(now, last + 1)`` under a file lock.
"""
from __future__ import annotations

from pathlib import Path

from toolkit import filelock


def next_seq(path: Path, now: int) -> int:
    """The next trust-list ``seq`` for this data directory: at least ``now``, and more than any
    seq handed out before, by any process."""
    with filelock.exclusive(path):
        text = path.read_text().strip() if path.exists() else ""
        seq = max(int(now), (int(text) if text.isdigit() else 0) + 1)
        filelock.write_atomically(path, str(seq))
    return seq
