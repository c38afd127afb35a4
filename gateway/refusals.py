"""A cap on how many refusals one credential writes into the audit log.

The log is never purged, and a refusal costs the caller nothing: a kiosk token past its limit
(429) and an auditor token on the kiosk endpoint (403) wrote 2 266 entries in 10 s.  Callers
without a token are capped by address where they are refused (``gateway/people.py``); this caps
everyone with a credential (the services' audit log is always this one, gateway/services/__init__.py):
per credential (every process on the data directory together: gateway/limits.py), the first
:data:`REFUSALS_LOGGED_PER_MINUTE` refusals in a minute are entries each, the next one is a
single ``audit_capped`` entry saying the cap was reached, and the rest are only counted
(``healthcode_refusals_unlogged_total{action, result}`` in ``/metrics``).  Granted requests are
always entries.
"""
from __future__ import annotations

from gateway import metrics
from gateway.limits import MinuteCounter, SharedTable
from store.audit import AuditLog

REFUSALS_LOGGED_PER_MINUTE = 30
_UNCAPPED_ROLES = ("unauthenticated", "system")      # strangers: capped by address; the gateway itself


class CappedAudit(AuditLog):
    """The audit log with refusals capped per credential; granted requests are always entries."""

    def __init__(self, store, clock, per_minute: int = REFUSALS_LOGGED_PER_MINUTE, shared: SharedTable | None = None):
        super().__init__(store, clock)
        self.per_minute = per_minute
        self._counter = MinuteCounter(clock=clock, shared=shared, name="refusals")

    def record(self, actor: dict, action: str, subject: str | None = None, result: str = "ok", **detail):
        role = actor.get("role") if isinstance(actor, dict) else None
        if result == "ok" or role in _UNCAPPED_ROLES or role is None:
            return super().record(actor, action, subject, result, **detail)
        count, _ = self._counter.add(f"{role}:{actor.get('id')}")
        if count <= self.per_minute:
            return super().record(actor, action, subject, result, **detail)
        metrics.count_unlogged_refusal(action, result)
        if count == self.per_minute + 1:
            return super().record(actor, "audit_capped", None, result="rate_limited", refused_action=action,
                                  limit=self.per_minute)
        return None
