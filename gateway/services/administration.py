"""Administration: who holds a credential (the data manager adds and withdraws them) and
retention (what is older than ``retention_days`` leaves the store).  Audited."""
from __future__ import annotations

from typing import Callable

from config.settings import Settings
from gateway.credentials import Credentials
from gateway.services.trust import SYSTEM
from standard.errors import Forbidden, NotFound
from store import Store
from store.audit import AuditLog


class AdministrationService:
    def __init__(self, settings: Settings, store: Store, audit: AuditLog, credentials: Credentials,
                 flush_scans: Callable[[], None], now: Callable[[], int]):
        self.settings = settings
        self.store = store
        self.audit = audit
        self.credentials = credentials
        self.flush_scans = flush_scans           # VerificationService.flush_scans
        self.now = now

    # -- credentials (data manager) ----------------------------------------------------------------
    def add_credential(self, role: str, principal_id: str, actor: dict, kiosk_id: str | None = None,
                       from_host: bool = True) -> str:
        """A new token, shown once; an earlier token of the same id stops working.  Over HTTP
        (``from_host`` False: a data manager's credential) never an auditor's, nor over an
        auditor's id (:meth:`_keep_auditors_apart`)."""
        if not from_host:
            self._keep_auditors_apart(actor, "credential_add", principal_id, role)
        token = self.credentials.add(role, principal_id, kiosk_id=kiosk_id, now=self.now())
        self.audit.record(actor, "credential_add", None, role=role, principal=principal_id,
                          **({"kiosk_id": kiosk_id} if kiosk_id else {}))
        return token

    def revoke_credential(self, principal_id: str, actor: dict, from_host: bool = True) -> dict:
        """Withdraw a credential at once; over HTTP never an auditor's."""
        if not from_host:
            self._keep_auditors_apart(actor, "credential_revoke", principal_id)
        try:
            gone = self.credentials.revoke(principal_id)
        except NotFound as exc:
            self.audit.record(actor, "credential_revoke", None, result=exc.code, principal=principal_id[:64])
            raise
        self.audit.record(actor, "credential_revoke", None, principal=gone["id"], role=gone["role"])
        return gone

    def _keep_auditors_apart(self, actor: dict, action: str, principal_id, role: str | None = None) -> None:
        """The auditor watches the data manager (§11): a data manager's credential may not make an
        auditor credential (reading who looked up whom), nor replace or withdraw one (blinding
        the auditor).  Auditors are enrolled and withdrawn on the gateway's host
        (``healthcode credentials``).  ``forbidden``, audited."""
        held = self.credentials.role_of(principal_id) if isinstance(principal_id, str) else None
        if role == "auditor" or held == "auditor":
            self.audit.record(actor, action, None, result=Forbidden.code, principal=str(principal_id)[:64],
                              **({"role": role} if role else {}))
            raise Forbidden("auditor credentials are made and withdrawn on the gateway's host "
                            "(healthcode credentials), never with a data manager's credential")

    def list_credentials(self) -> list[dict]:
        return self.credentials.list()

    def issuer_tokens(self) -> dict[str, str]:
        """Each regional issuer's token (what ``healthcode tokens`` prints for the operator)."""
        return self.credentials.issuer_tokens()

    # -- retention -------------------------------------------------------------------------------
    def purge(self, actor: dict | None = None) -> dict:
        before = self.now() - self.settings.retention_days * 86400
        self.flush_scans()
        counts = self.store.purge(before)
        self.audit.record(actor or SYSTEM, "purge", None, before=before, **counts)
        return counts
