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
  processes: ``max(now, last + 1)`` under a file lock — never more than an hour ahead of the
  clock, which verifiers would refuse (see :data:`AHEAD_LIMIT`).
"""
from __future__ import annotations

import time
from pathlib import Path

from standard import trustlist
from toolkit import filelock

# Verifiers refuse a list whose seq is more than trustlist.SEQ_LEAD ahead of its iat (a stolen
# retired national key must not lock genuine lists out).  Re-signing more than once a second for
# long (thousands of revocations in a loop) would run seq that far ahead of the clock; past half
# of it, each re-sign waits a second, so seq never gets ahead by more than about half.
AHEAD_LIMIT = trustlist.SEQ_LEAD // 2


def next_seq(path: Path, now: int, sleep=time.sleep) -> int:
    """The next trust-list ``seq`` for this data directory: at least ``now``, and more than any
    seq handed out before, by any process; when that is more than :data:`AHEAD_LIMIT` ahead of
    ``now``, the call waits a second (under the lock: re-signing slows to one a second)."""
    with filelock.exclusive(path):
        text = path.read_text().strip() if path.exists() else ""
        seq = max(int(now), (int(text) if text.isdigit() else 0) + 1)
        filelock.write_atomically(path, str(seq))
        if seq - int(now) > AHEAD_LIMIT:
            sleep(1)
    return seq
