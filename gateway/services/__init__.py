"""The gateway's use cases, one service each, wired once by :class:`Services` and shared by the
HTTP blueprints and the CLI:

- :mod:`.verification` — one code, an image of codes, a batch; scans recorded;
- :mod:`.issuing` — issue, re-issue, transcode, print, withdraw a person's codes;
- :mod:`.people` — kiosks, assisted lookup and dependents, through a :mod:`.regional_issuer`;
- :mod:`.online_status` — the status interface of this deployment's online codes;
- :mod:`.trust` — the signed trust list and what goes into it (keys, anchors, rules, revocations);
- :mod:`.administration` — credentials and retention.

Everything that touches disk is opened here once, so the verify path does no file I/O beyond the
store append.  Services receive what they use; none reaches into another's state.
"""
from __future__ import annotations

import time

from config.settings import Settings, load_settings
from gateway.credentials import Credentials
from gateway.limits import SharedTable
from gateway.refusals import CappedAudit
from gateway.services.administration import AdministrationService
from gateway.services.issuing import IssuingService
from gateway.services.online_status import OnlineStatusService
from gateway.services.people import PeopleService
from gateway.services.trust import SYSTEM, TrustService
from gateway.services.verification import SCAN_LOSS_BOUND, VerificationService, scan_event
from issuers.keys import KeyStore
from issuers.pseudonym import Pseudonymizer, load_or_create_secret
from issuers.seal import Sealer
from store import Store, open_store
from store.revocations import revocation_check

__all__ = ["Services", "SCAN_LOSS_BOUND", "SYSTEM", "check_custody", "scan_event"]


class Services:
    """The container: settings, store, audit log and credentials, and the services built on them."""

    def __init__(self, settings: Settings | None = None, store: Store | None = None, clock=time.time):
        self.settings = settings or load_settings()
        self.clock = clock
        data = self.settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.store = store or open_store(self.settings)
        # per-minute limits, counted by every process on the data directory together
        self.minute_counts = SharedTable(data)
        self.audit = CappedAudit(self.store, self.now, shared=self.minute_counts)   # refusals capped per credential
        self.credentials = Credentials(data, self.settings.region_codes())
        # a configured PKCS#11 token must open with its PIN now: a gateway without its keys
        # refuses to start (key_custody_unavailable) rather than failing its first issuance
        self.keystore = KeyStore(data, _token(self.settings))
        self.keystore.check()
        self.sealer = Sealer(data / "secrets" / "seal")
        pseudonymizer = Pseudonymizer(load_or_create_secret(data))
        revocations = revocation_check(self.store)          # in memory, refreshed from the store

        self.trust = TrustService(self.settings, self.store, self.audit, self.keystore, revocations, self.now)
        self.online_status = OnlineStatusService(self.settings, self.store)
        self.verification = VerificationService(self.settings, self.store, self.trust, revocations, self.now,
                                                local_status=self.online_status.local, counts=self.minute_counts)
        self.issuing = IssuingService(self.settings, self.store, self.audit, self.keystore, pseudonymizer,
                                      self.sealer, revocations, self.trust, self.verification.verify, self.now)
        self.people = PeopleService(self.settings, self.store, self.audit, self.issuing.subject,
                                    self.verification.verify, self.issuing.reissue,
                                    lambda region: self.credentials.issuer_tokens()[region], self.now,
                                    withdrawn=self.trust.delegation_withdrawn)
        self.administration = AdministrationService(self.settings, self.store, self.audit, self.credentials,
                                                    self.verification.flush_scans, self.now)

    def now(self) -> int:
        return int(self.clock())

    def close(self) -> None:
        self.verification.close()
        self.store.close()
        self.minute_counts.close()


def check_custody(settings: Settings) -> None:
    """Raise KeyCustodyUnavailable unless the token ``[custody]`` names opens with its PIN
    (``serve --workers`` checks before forking workers that would each fail to boot)."""
    token = _token(settings)
    if token is not None:
        token.check()


def _token(settings: Settings):
    """The PKCS#11 token ``[custody]`` names, or None (key files)."""
    if settings.custody is None:
        return None
    from issuers.token_custody import TokenCustody        # loads the PKCS#11 library only when named
    c = settings.custody
    return TokenCustody(c.module, c.token_label, c.pin_env, c.pin_file, c.owners)
