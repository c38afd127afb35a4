"""People without smartphones: the ID-card kiosk, the assisted lookup a helper makes with the
holder's ID number and name (老幼健康码助查询), and dependents bound to a holder (一人绑定多人).

Every code comes from the person's own region through a :class:`RegionalIssuer` and is verified
like any scanned code before anyone sees a colour.  While a city's delegation is withdrawn its
province answers for its people, from the province's own records (docs/standard.md §7.1).  Every call is audited here — granted or
refused — with the caller's credential and the person's pseudonym; limits are keyed on the
credential.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import standard
from config.settings import Settings
from gateway import metrics
from gateway.credentials import Principal
from gateway.issuer_client import IssuerClient
from gateway.services.regional_issuer import CodeRequest, HttpIssuer, InProcessIssuer, RegionalIssuer
from issuers import Person
from standard import idcard
from standard.errors import (BadRequest, HealthCodeError, IdentityNotMatched, RateLimited, UnknownRegion,
                             UpstreamUnavailable)
from store import Dependent, Store
from store.audit import AuditLog

MINUTE = 60
HOUR = 3600
RELATIONS = ("child", "parent", "spouse", "ward", "other")


class PeopleService:
    def __init__(self, settings: Settings, store: Store, audit: AuditLog, subject: Callable[[Person], str],
                 verify: Callable, reissue: Callable, issuer_token: Callable[[str], str],
                 now: Callable[[], int], client: IssuerClient | None = None,
                 withdrawn: Callable[[str], bool] = lambda region: False):
        self.settings = settings
        self.store = store
        self.audit = audit
        self.subject = subject                   # IssuingService.subject
        self.verify = verify                     # VerificationService.verify
        self.now = now
        self._local = InProcessIssuer(reissue)
        self._client = client or IssuerClient()
        self._issuer_token = issuer_token
        self.withdrawn = withdrawn               # TrustService.delegation_withdrawn

    def regional_issuer(self, region: str) -> RegionalIssuer:
        """This deployment when it issues the region itself, else the region's issuer address."""
        url = self.settings.issuer_url_for(self.settings.region(region))
        if not url:
            return self._local
        return HttpIssuer(self._client, url, lambda: self._issuer_token(region))

    def home_region(self, person: Person, region: str | None = None) -> str:
        """The region that holds this person's status: given, or read off a resident ID — the
        city configured for its area code (4401… → 440100), else its province (44… → 440000)."""
        if region is None and person.id_type == "resident":
            region = self.settings.region_for_division(idcard.parse(person.id_number).division)
        if region is None:
            region = self.settings.document_regions.get(person.id_type)
        if region is None:
            raise BadRequest("give region for documents other than a resident ID card")
        try:
            self.settings.region(region)
        except UnknownRegion:
            raise UnknownRegion(f"region {region} is not served by this gateway") from None
        return region

    def answering_region(self, home: str) -> str:
        """The region whose issuer answers for people of ``home``: ``home`` itself, or its
        province while ``home`` is a city whose delegation is withdrawn (it issues nothing then)."""
        parent = self.settings.region(home).parent
        return parent if parent and self.withdrawn(home) else home

    # -- kiosk and assisted lookup ----------------------------------------------------------------
    def lookup(self, principal: Principal, person: Person, *, assisted: bool, kiosk_id: str | None,
               region: str | None = None, fmt: str | None = None) -> dict:
        """Kiosk (card read) or assisted (ID number + name) lookup → the verdict of the person's
        fresh code with its QR text.  A kiosk's body ``kiosk_id`` must be its own."""
        limits = self.settings.limits
        action = "assisted_lookup" if assisted else "kiosk_lookup"
        actor = principal.as_actor()
        sub = self.subject(person)
        started = time.perf_counter()
        try:
            kiosk_id = principal.device(kiosk_id)
            actor = {**actor, **({"kiosk": kiosk_id} if kiosk_id else {})}
            if assisted:
                self._limit(f"assist:{principal.id}", limits["assisted_per_helper_per_hour"],
                            limits["assisted_per_helper_per_minute"])
            else:
                self._limit(f"kiosk:{principal.id}", limits["kiosk_lookups_per_hour"],
                            limits["kiosk_lookups_per_minute"])
            home = self.home_region(person, region)
            result = self._code(CodeRequest(home, sub, person, check_name=assisted, fmt=fmt), kiosk_id)
        except HealthCodeError as exc:
            metrics.count_lookup(action, exc.code)
            self.audit.record(actor, action, sub, result=exc.code)
            raise
        metrics.count_lookup(action, "ok", time.perf_counter() - started)
        fallback = {"answered_for": home} if result["region"] != home else {}
        self.audit.record(actor, action, sub, result="ok", region=result["region"], status=result["status"],
                          jti=result["code_id"], **fallback)
        return result

    # -- dependents ---------------------------------------------------------------------------------
    def bind_dependent(self, principal: Principal, holder: Person, dependent: Person, relation: str,
                       consent: dict, region: str | None = None, kiosk_id: str | None = None) -> dict:
        """Bind a dependent to a holder.  Both must be who the helper says: each ID number with its
        matching name, checked by the person's own region as an assisted lookup is.  Consent is
        recorded by method and reference; binds are limited per credential, and a holder carries
        at most ``dependents_per_holder`` others."""
        limits = self.settings.limits
        holder_sub, dep_sub = self.subject(holder), self.subject(dependent)
        actor = principal.as_actor()
        try:
            kiosk_id = principal.device(kiosk_id)
            self._limit(f"bind:{principal.id}", limits["dependent_binds_per_hour"])
            if relation not in RELATIONS:
                raise BadRequest(f"relation must be one of {', '.join(RELATIONS)}")
            if not isinstance(consent, dict) or not consent.get("method") or not consent.get("reference") \
                    or len(str(consent)) > 500:
                raise BadRequest("consent must record its method and reference (e.g. the signed form's number)")
            if holder_sub == dep_sub:
                raise BadRequest("a person cannot be their own dependent")
            dep_region = self.home_region(dependent, region)
            known = {d.dependent_sub for d in self.store.dependents(holder_sub)}
            if dep_sub not in known and len(known) >= limits["dependents_per_holder"]:
                raise BadRequest(f"a holder may carry at most {limits['dependents_per_holder']} dependents")
            for person, sub, home in ((holder, holder_sub, self.home_region(holder)),
                                      (dependent, dep_sub, dep_region)):
                self._code(CodeRequest(home, sub, person, check_name=True), kiosk_id)   # identity_not_matched
        except HealthCodeError as exc:
            self.audit.record(actor, "bind_dependent", dep_sub, result=exc.code, holder=holder_sub)
            raise
        record = {"method": str(consent["method"]), "reference": str(consent["reference"])[:100],
                  "recorded_at": self.now(), "recorded_by": principal.id}
        self.store.add_dependent(Dependent(holder_sub, dep_sub, dep_region, relation, record, self.now()))
        self.audit.record(actor, "bind_dependent", dep_sub, holder=holder_sub, relation=relation,
                          consent_method=record["method"], consent_reference=record["reference"])
        return {"holder": standard.mask_name(holder.name), "dependent": standard.mask_name(dependent.name),
                "relation": relation, "region": dep_region}

    def dependent_codes(self, principal: Principal, holder: Person, kiosk_id: str | None) -> dict:
        """The holder's own code (an assisted lookup) and each bound dependent's."""
        holder_sub = self.subject(holder)
        own = self.lookup(principal, holder, assisted=True, kiosk_id=kiosk_id)
        kiosk_id = principal.device(kiosk_id)
        out = []
        for dep in self.store.dependents(holder_sub):
            dep_claim = {"holder_sub": holder_sub, "relation": dep.relation,
                         "holder_name_masked": standard.mask_name(holder.name)}
            try:
                answer = self._code(CodeRequest(dep.region, dep.dependent_sub, dep=dep_claim), kiosk_id)
                self.audit.record(principal.as_actor(), "dependent_lookup", dep.dependent_sub,
                                  holder=holder_sub, status=answer["status"])
                out.append({"relation": dep.relation, **answer})
            except (IdentityNotMatched, UpstreamUnavailable) as exc:
                self.audit.record(principal.as_actor(), "dependent_lookup", dep.dependent_sub,
                                  holder=holder_sub, result=exc.code)
                out.append({"relation": dep.relation, "valid": False, "status": None,
                            "errors": [exc.as_dict()]})
        return {"holder": own, "dependents": out}

    # -- shared -------------------------------------------------------------------------------------
    def _code(self, request: CodeRequest, device: str | None) -> dict:
        """The person's fresh code from their region — from its province while the region is a
        city whose delegation is withdrawn — verified before anyone sees it.  The province answers
        from its own records: a person it has none of is ``identity_not_matched``."""
        home = request.region
        request = dataclasses.replace(request, region=self.answering_region(home))
        try:
            qr_text = self.regional_issuer(request.region).current_code(request)
        except IdentityNotMatched:
            if request.region == home:
                raise
            raise IdentityNotMatched(
                f"city {home}'s delegation is withdrawn, so its province {request.region} answers for its residents, "
                f"and {request.region}'s issuer has no record matching this ID number"
                f"{' and name' if request.check_name else ''}") from None
        verdict = self.verify(qr_text, device=device)
        if not verdict.valid or verdict.region != request.region:
            raise UpstreamUnavailable(f"the issuer for region {request.region} returned a code that does not verify")
        return {**verdict.as_dict(), "qr_text": qr_text}

    def _limit(self, key: str, per_hour: int, per_minute: int | None = None) -> None:
        """Count one use of ``key`` (a credential id) against its hourly and per-minute limits."""
        now = self.now()
        if per_minute is not None and self.store.hit(f"{key}:m", now, MINUTE) > per_minute:
            raise RateLimited("too many requests this minute; please wait a moment", retry_after=MINUTE)
        if self.store.hit(key, now, HOUR) > per_hour:
            raise RateLimited("too many lookups this hour; please wait before trying again",
                              retry_after=HOUR)
