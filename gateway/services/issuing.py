"""Issuing: a region's codes — issued on the rules' decision, re-issued with the stored colour,
transcoded from another region, printed on paper — and withdrawn.  Every code is recorded for
revocation and every operation on a person audited, refused ones included; the claims always come
from the region's :class:`issuers.Issuer`."""
from __future__ import annotations

import hmac
from typing import Callable

import adapters
import standard
from config.settings import ONLINE_FORMAT, Settings
from gateway.services.trust import SYSTEM, TrustService
from standard.delegation import holder_area
from issuers import IssuedCode, Issuer, Person
from issuers.keys import KeyStore
from issuers.pseudonym import Pseudonymizer
from issuers.seal import Sealer
from standard.errors import (BadRequest, DelegationInvalid, DelegationWithdrawn, Forbidden, HealthCodeError,
                             IdentityNotMatched, NotFound, RateLimited, StatusOverrideRefused, TranscodeRefused)
from store import IssuedRecord, Resident, Store
from store.audit import AuditLog


MAX_LISTED_CODES = 200            # a person's outstanding codes listed at most (newest first)


class IssuingService:
    def __init__(self, settings: Settings, store: Store, audit: AuditLog, keystore: KeyStore,
                 pseudonymizer: Pseudonymizer, sealer: Sealer, revocations, trust: TrustService,
                 verify: Callable, now: Callable[[], int]):
        self.settings = settings
        self.store = store
        self.audit = audit
        self.keystore = keystore
        self.pseudonymizer = pseudonymizer
        self.sealer = sealer
        self.revocations = revocations
        self.trust = trust
        self.verify = verify                 # VerificationService.verify: a transcoded source is checked
        self.now = now
        self._issuers: dict[str, Issuer] = {}

    def issuer(self, region_code: str) -> Issuer:
        """The region's issuer, with its key as of now (another process may have rotated it)."""
        region = self.settings.region(region_code)
        signer = self.keystore.signer(region.code, region.algorithms[0])
        cached = self._issuers.get(region_code)
        if cached is None or cached.signer is not signer:
            cached = self._issuers[region_code] = Issuer(region, signer, self.pseudonymizer,
                                                                 adapters.issuing_format)
        return cached

    def subject(self, person: Person) -> str:
        """The person's pseudonym: the only identifier the store and the audit log hold."""
        return self.pseudonymizer.subject(person.id_type, person.id_number)

    # -- issuing ----------------------------------------------------------------------------------
    def issue(self, region_code: str, person: Person, facts=None, status=None, kind="dynamic",
              fmt=None, extra=None, actor: dict | None = None) -> IssuedCode:
        """Issue and remember: the resident's colour, the code (for revocation), the audit entry.
        A colour that gets worse withdraws the person's outstanding codes at once.  A city issues
        only while its delegation stands and only for residents of its own area (§7.1): any other
        code would be refused by every verifier.  Those refusals come first, issue and store
        nothing, and are audited."""
        try:
            self._check_delegated(region_code)
            self._check_area(region_code, person)
            issued = self.issuer(region_code).issue(person, facts, status, kind, self.now(), fmt, extra)
        except HealthCodeError as exc:
            self.audit.record(actor or SYSTEM, "issue", self.subject(person), result=exc.code, region=region_code)
            raise
        c = issued.claims
        previous = self.store.get_resident(c["sub"], region_code)
        if previous and standard.SEVERITY[c["status"]] > standard.SEVERITY[previous.status]:
            self.revoke_subject(c["sub"], actor or SYSTEM, reason=f"status became {c['status']}")
        sealed = self.sealer.seal({"name": person.name, "id_number": person.id_number,
                                   "id_type": person.id_type}, context=c["sub"])
        self.store.record_issuance(
            _record(c), Resident(c["sub"], region_code, self.pseudonymizer.name_digest(person.name), c["status"],
                                 tuple(c["reasons"]), self.now(), sealed),
            self.audit.entry(actor or SYSTEM, "issue", c["sub"], region=region_code, status=c["status"],
                             kind=kind, jti=c["jti"], format=issued.format),
            online_answer=issued.answer)
        return issued

    def _check_delegated(self, region_code: str) -> None:
        """``delegation_withdrawn`` (HTTP 403) when ``region_code`` is a city whose province has
        withdrawn its delegation: the city issues nothing until it is restored (§7.1)."""
        region = self.settings.region(region_code)
        if region.parent and self.trust.delegation_withdrawn(region.code):
            raise DelegationWithdrawn(f"city {region.code} may not issue: its province {region.parent} has withdrawn "
                                      f"its delegation; {region.parent} answers for its residents until it is restored")

    def _check_area(self, region_code: str, person: Person) -> None:
        """What every verifier checks of a city's code (standard.delegation.holder_area), on the
        masked number the code would carry: a resident, or any document masked like one."""
        region = self.settings.region(region_code)
        area = holder_area({"id_type": person.id_type, "id_masked": standard.mask_id(person.id_number)}) \
            if region.parent else None
        if area is not None and area != region.area_prefix:
            raise DelegationInvalid(f"city {region.code} issues under its province's delegation only for residents "
                                    f"of its area ({region.area_prefix}…); issue this code in {region.parent}")

    def _check_holder_area(self, region_code: str, claims: dict) -> None:
        """A city carries only holders of its own area, transcoded codes too (§7.1: every
        verifier checks the area whatever ``prov`` says): a traveller's code goes to the province."""
        region = self.settings.region(region_code)
        area = holder_area(claims) if region.parent else None
        if area is not None and area != region.area_prefix:
            raise DelegationInvalid(f"city {region.code} carries under its province's delegation only codes of "
                                    f"residents of its area ({region.area_prefix}…); transcode this code into "
                                    f"{region.parent}")

    def reissue(self, region_code: str, sub: str, name: str | None, kind: str = "dynamic",
                dep: dict | None = None, actor: dict | None = None, fmt: str | None = None) -> IssuedCode:
        """A fresh code with the resident's current colour (kiosk, assisted lookup, dependents).
        A name, when given, must match; an unknown person and a wrong name look the same, take
        the same time, and are audited here as ``identity_not_matched``.  A city whose
        delegation is withdrawn answers nothing (``delegation_withdrawn``, audited)."""
        try:
            self._check_delegated(region_code)
        except DelegationWithdrawn as exc:
            self.audit.record(actor or SYSTEM, "reissue", sub, result=exc.code, region=region_code)
            raise
        resident = self.store.get_resident(sub, region_code)
        typed = self.pseudonymizer.name_digest(name if name is not None else "")
        stored = resident.name_hmac if resident else typed
        if resident is None or (name is not None and not hmac.compare_digest(typed, stored)):
            self.audit.record(actor or SYSTEM, "reissue", sub, result="identity_not_matched",
                              region=region_code)
            raise IdentityNotMatched("no record matches this ID number and name" if name is not None
                                     else "no record matches this ID number")
        pii = self.sealer.open(resident.pii_sealed, context=sub)
        person = Person(pii["id_type"], pii["id_number"], pii["name"])
        issuer = self.issuer(region_code)
        claims = issuer.claims(person, resident.status, list(resident.reasons), kind, self.now(),
                               {"dep": dep} if dep else None)
        issued = issuer.sign(claims, fmt)
        self.store.record_issuance(
            _record(claims), None,
            self.audit.entry(actor or SYSTEM, "reissue", sub, region=region_code, kind=kind,
                             jti=claims["jti"], status=claims["status"], format=issued.format),
            online_answer=issued.answer)
        return issued

    def transcode(self, payload: str, target_region: str, fmt: str | None = None,
                  actor: dict | None = None) -> tuple[IssuedCode, object]:
        """A verified code of one region → a code of another, re-decided under the target's rules
        (issuers/transcoding.py); ``prov`` traces the code through any number of hops.  Never into
        a city whose delegation is withdrawn (``delegation_withdrawn``, audited, nothing issued)."""
        try:
            self._check_delegated(target_region)
        except DelegationWithdrawn as exc:
            self.audit.record(actor or SYSTEM, "transcode", None, result=exc.code, target_region=target_region)
            raise
        issuer = self.issuer(target_region)
        source = self.verify(payload, device="transcoder")
        if not source.valid:
            self.audit.record(actor or SYSTEM, "transcode", None, result=TranscodeRefused.code,
                              target_region=target_region, source_error=source.errors[0]["code"])
            raise TranscodeRefused(f"source code is not valid: {source.errors[0]['code']}")
        c, now = source.claims, self.now()
        try:
            self._check_holder_area(target_region, c)
        except DelegationInvalid as exc:
            self.audit.record(actor or SYSTEM, "transcode", c["sub"], result=exc.code, source_region=c["region"],
                              source_jti=c["jti"], target_region=target_region)
            raise
        claims = issuer.transcoded_claims(c, source.format, now)
        issued = issuer.sign(claims, fmt)
        self.store.record_issuance(
            _record(claims), None,
            self.audit.entry(actor or SYSTEM, "transcode", c["sub"], source_region=c["region"],
                             source_jti=c["jti"], target_region=target_region, jti=claims["jti"],
                             status=claims["status"], source_status=c["status"]),
            online_answer=issued.answer)
        return issued, source

    # -- withdrawing ------------------------------------------------------------------------------
    def revoke_person(self, region_code: str, sub: str, actor: dict, reason: str = "") -> list[str]:
        """A region's issuer withdraws every outstanding code of a person (§9) — not a city whose
        delegation is withdrawn (``delegation_withdrawn``, audited, nothing withdrawn): a city its
        province stopped decides nothing about anyone, as it issues nothing."""
        try:
            self._check_delegated(region_code)
        except DelegationWithdrawn as exc:
            self.audit.record(actor, "revoke", sub, result=exc.code, region=region_code)
            raise
        return self.revoke_subject(sub, actor, reason=reason)

    def revoke_subject(self, sub: str, actor: dict, reason: str = "") -> list[str]:
        """Withdraw every outstanding code of a person: online at once, offline at the next list.
        ``trust_list_full`` (nothing withdrawn) when the list could not name them all."""
        self.trust.check_fits(extra_withdrawn=self.store.count_outstanding(sub, self.now()))
        jtis = self.store.revoke_subject(sub, self.now())
        self.revocations.refresh()
        self.audit.record(actor, "revoke", sub, codes=len(jtis), reason=reason)
        self.trust.invalidate()
        self._issuers.clear()
        return jtis

    def outstanding_codes(self, region_code: str, person: Person, actor: dict) -> list[dict]:
        """A person's codes of the region that still verify — what issuer staff read before they
        withdraw a lost printed card.  Ids, kinds, colours and times only; audited."""
        self.settings.region(region_code)
        sub = self.subject(person)
        codes = self.store.outstanding_codes(sub, region_code, self.now(), MAX_LISTED_CODES)
        self.audit.record(actor, "codes_list", sub, region=region_code, codes=len(codes))
        return [{"code_id": c.jti, "kind": c.kind, "status": c.status, "issued_at": standard.rfc3339(c.iat),
                 "expires_at": standard.rfc3339(c.exp)} for c in codes]

    def withdraw_code(self, region_code: str, person: Person, code_id: str, actor: dict,
                      reason: str = "") -> dict:
        """Withdraw one of the person's outstanding codes (a lost printed card): refused online at
        once and offline after the next trust list; the person's other codes keep working.  A
        code that is not this person's outstanding code of the region is not found (audited)."""
        self.settings.region(region_code)
        sub = self.subject(person)
        now = self.now()
        code = next((c for c in self.store.outstanding_codes(sub, region_code, now, MAX_LISTED_CODES)
                     if c.jti == code_id), None)
        if code is None:
            self.audit.record(actor, "code_withdraw", sub, region=region_code, result="not_found")
            raise NotFound("this person has no outstanding code with this id in this region")
        self.store.revoke_codes([code.jti], sub, now, code.exp)
        self.revocations.refresh()
        self.audit.record(actor, "code_withdraw", sub, region=region_code, jti=code.jti, kind=code.kind,
                          reason=str(reason)[:100])
        self.trust.invalidate()
        return {"withdrawn": code.jti, "kind": code.kind, "expires_at": standard.rfc3339(code.exp)}

    # -- printed offline codes --------------------------------------------------------------------
    def print_cards(self, entries, layout: str = "single", actor: dict | None = None,
                    fmt: str | None = None, override_reason: str | None = None) -> bytes:
        """entries: (region, Person, status or None) → a PDF.

        A card shows what the person's issuer decided: the stored colour *and its reasons*, the
        same as the phone code; the name must match the record, and a person the region's issuer
        has no record of is refused (``identity_not_matched``) — never printed with an invented
        colour, not even by an override.  A ``status`` is an issuer override: only an issuer credential for that very
        region may send one (``status_override_refused`` otherwise), with an ``override_reason``;
        it is audited as ``print_override`` and never changes the stored colour, so the next
        lookup still shows what the rules decided.
        Everything is validated before anything is issued, so one bad row in a care home's list
        issues nothing (and the refusal is audited), nor does a row of a city whose delegation is
        withdrawn (``delegation_withdrawn``).  ``fmt="online"`` prints online codes."""
        from issuers import printing         # the PDF and font machinery: imported where cards are printed
        entries = list(entries)
        actor = actor or SYSTEM
        reason = override_reason.strip()[:200] if isinstance(override_reason, str) else ""
        try:
            plan = [self._print_plan(number, region, person, status, actor, reason, fmt)
                    for number, (region, person, status) in enumerate(entries, 1)]
        except HealthCodeError as exc:
            self.audit.record(actor, "print", None, result=exc.code)
            raise
        cards = []
        for region, person, status, resident in plan:
            issuer = self.issuer(region)
            if status is None:                          # the issuer's decision, its reasons included
                claims = issuer.claims(person, resident.status, list(resident.reasons), "offline", self.now())
                action, detail = "print", {}
            else:                                       # an issuer's override, for its own region
                printed, reasons = issuer.decide(None, status, self.now())
                claims = issuer.claims(person, printed, reasons, "offline", self.now())
                action, detail = "print_override", {"override_reason": reason, "decided_status": resident.status}
            issued = issuer.sign(claims, fmt)
            self.store.record_issuance(
                _record(claims), None,                  # the stored colour stays the rules' decision
                self.audit.entry(actor, action, resident.sub, region=region, kind="offline", jti=claims["jti"],
                                 status=claims["status"], format=issued.format, **detail),
                online_answer=issued.answer)
            cards.append(printing.card_for(self.settings.region(region), issued.qr_text, issued.claims,
                                           online=issued.answer is not None))
        self.audit.record(actor, "print", None, cards=len(cards), layout=layout,
                          overrides=sum(1 for _, _, status, _ in plan if status is not None))
        return printing.render_pdf(cards, layout)

    def _print_plan(self, number: int, region: str, person: Person, status, actor: dict, reason: str, fmt):
        """(region, person as the issuer holds it, the override status or None, the stored
        resident).  Refuses what may not be printed: an unknown person and a wrong name alike."""
        cfg = self.settings.region(region)                        # region_unknown
        if actor.get("role") == "issuer" and actor.get("region") != region:
            raise Forbidden(f"person {number}: this token may act only for region {actor.get('region')}")
        self._check_delegated(region)                             # a withdrawn city prints nothing
        if fmt == ONLINE_FORMAT and not cfg.online_url:
            raise BadRequest(f"region {region} does not issue online codes")
        resident = self.store.get_resident(self.subject(person), region)
        typed = self.pseudonymizer.name_digest(person.name or "")
        if resident is None or not hmac.compare_digest(typed, resident.name_hmac):
            raise IdentityNotMatched(
                f"person {number}: region {region}'s issuer has no record matching this ID number and name; "
                "a card shows the colour the issuer decided, so the issuer must record the person first")
        if resident.pii_sealed:                                   # the name as the issuer holds it
            pii = self.sealer.open(resident.pii_sealed, context=resident.sub)
            person = Person(pii["id_type"], pii["id_number"], pii["name"])
        if status is None:
            return region, person, None, resident
        if status not in standard.STATUSES:
            raise BadRequest("status must be green, yellow or red")
        if actor.get("role") != "issuer" or actor.get("region") != region:
            raise StatusOverrideRefused(
                f"person {number}: a card shows the colour region {region}'s issuer decided; only that "
                "region's issuer credential may print another colour (leave status out)")
        if not reason:
            raise BadRequest("a status override needs an override_reason (it is audited)")
        return region, person, status, resident

    def count_print(self, credential_id: str) -> None:
        """One print request by a credential, against its minute's and hour's worth (``[limits]``):
        ``rate_limited`` past either, before anything is issued."""
        limits, now, key = self.settings.limits, self.now(), f"print:{credential_id}"
        if self.store.hit(f"{key}:m", now, 60) > limits["prints_per_credential_per_minute"]:
            raise RateLimited("too many print requests this minute; please wait a moment", retry_after=60)
        if self.store.hit(key, now, 3600) > limits["prints_per_credential_per_hour"]:
            raise RateLimited("too many print requests this hour; please wait before printing more",
                              retry_after=3600)


def _record(claims: dict) -> IssuedRecord:
    return IssuedRecord(claims["jti"], claims["sub"], claims["region"], claims["kind"], claims["status"],
                        tuple(claims["reasons"]), claims["iat"], claims["exp"])
