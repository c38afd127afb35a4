"""The per-minute counter and the circuit breaker on a clock the test moves: window edges,
Retry-After, the bound on keys, open / half-open / closed — with no sleeping."""
from __future__ import annotations

from gateway.limits import MinuteCounter
from support.clock import Clock
from toolkit.breaker import CircuitBreaker


def test_the_counter_counts_per_key_in_one_minute_windows_of_its_clock():
    clock = Clock(start=6000)                       # 6000 s is the start of a minute
    counter = MinuteCounter(clock=clock)
    assert counter.add("a") == (1, 60)
    clock.advance(59)
    assert counter.add("a", amount=10) == (11, 1) and counter.add("b") == (1, 1)
    clock.advance(1)                                # the next minute starts afresh
    assert counter.add("a") == (1, 60)
    assert counter.add("a", now=6000) == (1, 60)    # an explicit time wins over the clock


def test_the_counter_forgets_everyone_past_its_key_bound():
    counter = MinuteCounter(max_keys=3, clock=Clock(start=0))
    for key in "abc":
        counter.add(key, amount=5)
    assert counter.add("a") == (6, 60)
    assert counter.add("d") == (1, 60) and counter.add("a") == (1, 60)       # started over


def test_the_breaker_opens_half_opens_after_the_cooldown_and_closes_on_success():
    clock = Clock(start=100)
    breaker = CircuitBreaker(failures=2, cooldown=10, clock=clock)
    breaker.record("gd", ok=False)
    assert breaker.allow("gd")                      # one failure: still closed
    breaker.record("gd", ok=False)
    assert not breaker.allow("gd") and breaker.allow("sh")      # open for gd only
    clock.advance(9.9)
    assert not breaker.allow("gd")
    clock.advance(0.1)
    assert breaker.allow("gd")                      # half-open: one probe …
    assert not breaker.allow("gd")                  # … and the others wait a cooldown more
    breaker.record("gd", ok=False)
    clock.advance(10)
    assert breaker.allow("gd")
    breaker.record("gd", ok=True)                   # the probe succeeded: closed
    assert breaker.allow("gd") and breaker.allow("gd")
