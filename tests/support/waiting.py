"""Polling for what a live process does a moment later (a scan row written in groups, a search
index refresh, the next second of the clock): ask again until it holds, up to a bound, instead of
sleeping a guessed time."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T], done: Callable[[T], object] = bool, timeout: float = 10,
               interval: float = 0.02) -> T:
    """Call ``probe`` until ``done(answer)`` holds (by default: the answer is true) and return the
    answer; after ``timeout`` seconds return the last one, so the test's own assertion says what
    is wrong."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if done(answer) or time.monotonic() >= deadline:
            return answer
        time.sleep(interval)
