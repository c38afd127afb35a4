"""Status rules for foreign health certificates (EU DCC, SMART Health Cards).

Foreign certificates state *events* (a test, a vaccination, a recovery), not a colour.  A
deployment decides what each event is worth in ``[format.<name>.rules]``; this module turns the
events into (status, reasons, valid_until) so the verdict says why, and a green from a test
ends when the test ages out.  Pure functions.
"""
from __future__ import annotations

from dataclasses import dataclass

HOUR = 3600
DAY = 86400

DEFAULT_RULES = {
    "negative_test_hours": 48,          # a negative test is green this long after sampling
    "vaccination_wait_days": 14,        # a completed series counts this long after the last dose
    "vaccination_valid_days": 365,
    "recovery": True,                   # a recovery certificate is green inside its own window
    "otherwise": "yellow",              # no event that counts
}


@dataclass(frozen=True)
class Event:
    type: str                   # test | vaccination | recovery
    at: int                     # sampling time, dose date, first positive result
    result: str | None = None   # tests: negative | positive
    complete: bool = False      # vaccination: dose n of n
    valid_from: int | None = None
    valid_until: int | None = None


def evaluate(events: list[Event], rules: dict | None, now: int) -> tuple[str, list[str], int | None]:
    """Worst-wins over events that currently count; ``valid_until`` caps the code's expiry."""
    r = {**DEFAULT_RULES, **(rules or {})}
    greens: list[tuple[str, int]] = []
    for event in events:
        if event.type == "test" and event.result == "positive" and now - event.at <= 14 * DAY:
            return "red", ["positive_test"], None
        if event.type == "test" and event.result == "negative":
            until = event.at + int(r["negative_test_hours"]) * HOUR
            if event.at - 60 <= now <= until:
                greens.append(("negative_test", until))
        elif event.type == "vaccination" and event.complete:
            start = event.at + int(r["vaccination_wait_days"]) * DAY
            until = event.at + int(r["vaccination_valid_days"]) * DAY
            if start <= now <= until:
                greens.append(("vaccinated", until))
        elif event.type == "recovery" and r["recovery"] and event.valid_from is not None:
            if event.valid_from <= now <= (event.valid_until or now):
                greens.append(("recovered", event.valid_until or now + DAY))
    if greens:
        reasons = list(dict.fromkeys(reason for reason, _ in greens))
        return "green", reasons, max(until for _, until in greens)
    return r["otherwise"], ["no_valid_certificate"], None
