"""The composition root: settings + keys + store + issuers + verifier, shared by CLI and gateway.

Everything that touches disk is made here once, so the verify path itself does no file I/O
beyond the store append.
"""
from __future__ import annotations

import threading
import time

from . import trustlist
from .config import Settings, load_settings
from .issuers import Issuer, IssuedCode, Person
from .keystore import NATIONAL, KeyStore
from .pseudonym import Pseudonymizer, load_or_create_secret
from .tokens import issuer_tokens
from .store import IssuedRecord, ScanEvent, Store, open_store
from .verify import Verdict, Verifier

TRUST_CACHE_SECONDS = 60


class Service:
    def __init__(self, settings: Settings | None = None, store: Store | None = None, clock=time.time):
        self.settings = settings or load_settings()
        self.clock = clock
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.keystore = KeyStore(self.settings.data_dir)
        self.pseudonymizer = Pseudonymizer(load_or_create_secret(self.settings.data_dir))
        self.store = store or open_store(self.settings)
        self.verifier = Verifier(self.settings.formats(),
                                 is_revoked=lambda claims: self.store.is_revoked(claims["jti"]),
                                 options=self.settings.format_options)
        self._issuers: dict[str, Issuer] = {}
        self._trust: tuple[float, str, trustlist.TrustList] | None = None
        self._lock = threading.Lock()
        self._tokens: dict[str, str] | None = None

    def now(self) -> int:
        return int(self.clock())

    # -- issuing ----------------------------------------------------------------------------------
    def issuer(self, region_code: str) -> Issuer:
        if region_code not in self._issuers:
            region = self.settings.region(region_code)
            signer = self.keystore.signer(region.code, region.algorithms[0])
            self._issuers[region_code] = Issuer(region, signer, self.pseudonymizer)
        return self._issuers[region_code]

    def issue(self, region_code: str, person: Person, facts=None, status=None, kind="dynamic",
              fmt=None, extra=None) -> IssuedCode:
        issued = self.issuer(region_code).issue(person, facts, status, kind, self.now(), fmt, extra)
        c = issued.claims
        self.store.record_issued(IssuedRecord(c["jti"], c["sub"], c["region"], c["kind"], c["status"],
                                              tuple(c["reasons"]), c["iat"], c["exp"]))
        return issued

    def issuer_tokens(self) -> dict[str, str]:
        if self._tokens is None:
            self._tokens = issuer_tokens(self.settings)
        return self._tokens

    # -- keys and the trust list -----------------------------------------------------------------
    def national_jwks(self) -> dict:
        return trustlist.national_jwks(self.keystore)

    def trust_list_jws(self) -> str:
        return self._trust_entry()[1]

    def trust_list(self) -> trustlist.TrustList:
        return self._trust_entry()[2]

    def _trust_entry(self):
        with self._lock:
            now = self.now()
            if self._trust is None or now - self._trust[0] > TRUST_CACHE_SECONDS or now < self._trust[0]:
                payload = trustlist.build_payload(self.settings, self.keystore, now,
                                                  revoked_jti=self.store.revoked_jtis(now))
                token = trustlist.sign(payload, self.keystore.signer(NATIONAL))
                self._trust = (now, token, trustlist.parse(token, self.national_jwks(), now))
            return self._trust

    def invalidate_trust(self) -> None:
        with self._lock:
            self._trust = None
            self._issuers.clear()
            self.keystore._cache.clear()

    def rotate_key(self, owner: str) -> str:
        alg = "ES256" if owner == NATIONAL else self.settings.region(owner).algorithms[0]
        signer = self.keystore.rotate(owner, alg, self.now())
        self.invalidate_trust()
        return signer.kid

    def revoke_person(self, sub: str) -> list[str]:
        jtis = self.store.revoke_subject(sub, self.now())
        self.invalidate_trust()
        return jtis

    # -- verifying --------------------------------------------------------------------------------
    def verify(self, text, *, place=None, device=None, now=None, anchors=(), record=True) -> Verdict:
        verdict = self.verifier.verify(text, self._trust_for(anchors), now if now is not None else self.now())
        return self._recorded(verdict, place, device, record)

    def verify_image(self, data: bytes, *, place=None, device=None, now=None, anchors=(),
                     record=True) -> Verdict:
        verdict = self.verifier.verify_image(data, self._trust_for(anchors),
                                             now if now is not None else self.now())
        return self._recorded(verdict, place, device, record)

    def _trust_for(self, anchors):
        trust = self.trust_list()
        return trust.with_anchors(anchors) if anchors else trust

    def _recorded(self, verdict: Verdict, place, device, record: bool) -> Verdict:
        if record:
            self.store.add_scan(scan_event(verdict, self.now(), place, device))
        return verdict


def scan_event(verdict: Verdict, at: int, place=None, device=None) -> ScanEvent:
    error = verdict.errors[0]["code"] if verdict.errors else None
    return ScanEvent(at=at, valid=verdict.valid, format=verdict.format, region=verdict.region,
                     status=verdict.status, code_id=verdict.code_id, error=error,
                     place=_short(place), device=_short(device))


def _short(value) -> str | None:
    return None if value is None else str(value)[:64]
