"""The composition root: settings + keys + store + issuers + verifier, shared by CLI and gateway.

Everything that touches disk is made here once, so the verify path itself does no file I/O
beyond the store append.  Operations on a person (issue, lookup, revoke, bind, print) are
audited here, in one place, whoever calls them.
"""
from __future__ import annotations

import hmac
import logging
import os
import secrets
import threading
import time

import adapters
from gateway import anchors, batch, foreign_revocations, rulesets
from standard import idcard
from gateway import metrics
from gateway import trustseq
from toolkit import filelock
from issuers import printing
import standard
from issuers import transcoding
from adapters import revocation_lists
from standard import trustlist
from store.audit import AuditLog
from config.settings import ONLINE_FORMAT, Settings, load_settings
from gateway.credentials import Credentials, Principal
from standard.errors import (BadRequest, CodeRevoked, CodeUnknown, HealthCodeError, NotFound, RateLimited,
                             TranscodeRefused, UnknownRegion, UpstreamUnavailable)
from gateway.issuer_client import IssuerClient
from standard.errors import IdentityNotMatched
from gateway.limits import MinuteCounter
from standard.errors import undecodable_codes
from issuers import Issuer, IssuedCode, Person
from issuers.keys import NATIONAL, KeyStore
from issuers.pseudonym import Pseudonymizer, load_or_create_secret
from issuers.seal import Sealer
from store import Dependent, IssuedRecord, Resident, ScanEvent, Store, open_store
from store.revocations import revocation_check
from store import scanqueue
from store.scanqueue import ScanWriter
from adapters.verifier import Verdict, Verifier

log = logging.getLogger(__name__)
TRUST_CACHE_SECONDS = 60
MINUTE = 60
HOUR = 3600
FOREIGN_REVOCATION_SECONDS = 400 * 86400     # longer than any foreign certificate we read lives
SYSTEM = {"role": "system", "id": "healthcode"}
UNDECODABLE = undecodable_codes()
RELATIONS = ("child", "parent", "spouse", "ward", "other")


# Scan events a SIGKILL of a serving process can lose: those answered but still in its queue or
# in the group being written (store/scanqueue.py; README, "Scan events").  Commands other than
# serve and verify-batch commit each scan before answering.
SCAN_LOSS_BOUND = scanqueue.LOSS_BOUND

class Service:
    def __init__(self, settings: Settings | None = None, store: Store | None = None, clock=time.time):
        self.settings = settings or load_settings()
        self.clock = clock
        data = self.settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.keystore = KeyStore(data)
        self.pseudonymizer = Pseudonymizer(load_or_create_secret(data))
        self.sealer = Sealer(data / "secrets" / "seal")
        self.credentials = Credentials(data, self.settings.region_codes())
        self.anchor_file = anchors.AnchorFile(data)
        self.revocation_file = foreign_revocations.RevocationFile(data)
        self.rule_file = rulesets.RuleFile(data)
        self.store = store or open_store(self.settings)
        self.audit = AuditLog(self.store, self.now)
        self.issuer_client = IssuerClient()
        self.revocations = revocation_check(self.store)      # in memory, refreshed from the store
        self.verifier = Verifier(self.settings.formats(),
                                 is_revoked=lambda claims: claims["jti"] in self.revocations,
                                 options=self._format_options())
        self.verify_counter = MinuteCounter()
        self.scan_writer: ScanWriter | None = None           # group_scan_writes() turns it on
        self._pool: batch.VerifyPool | None = None           # started by the first large batch
        self._issuers: dict[str, Issuer] = {}
        self._trust: tuple[float, str, trustlist.TrustList] | None = None
        self._trust_inputs: tuple = ()
        self._trust_paths: tuple[str, ...] | None = None
        self._lock = threading.Lock()

    def now(self) -> int:
        return int(self.clock())

    def _format_options(self) -> dict:
        online = {**self.settings.format_options.get(ONLINE_FORMAT, {}), "local": self._local_status}
        return {**self.settings.format_options, ONLINE_FORMAT: online}

    def issuer_tokens(self) -> dict[str, str]:
        return self.credentials.issuer_tokens()

    # -- issuing ----------------------------------------------------------------------------------
    def issuer(self, region_code: str) -> Issuer:
        """The region's issuer, with its key as of now (another process may have rotated it)."""
        region = self.settings.region(region_code)
        signer = self.keystore.signer(region.code, region.algorithms[0])
        cached = self._issuers.get(region_code)
        if cached is None or cached.signer is not signer:
            cached = self._issuers[region_code] = Issuer(region, signer, self.pseudonymizer, adapters.get)
        return cached

    def issue(self, region_code: str, person: Person, facts=None, status=None, kind="dynamic",
              fmt=None, extra=None, actor: dict | None = None) -> IssuedCode:
        """Issue and remember: the resident's colour, the code (for revocation), the audit entry.
        A colour that gets worse withdraws the person's outstanding codes at once."""
        issuer = self.issuer(region_code)
        issued = issuer.issue(person, facts, status, kind, self.now(), fmt, extra)
        c = issued.claims
        previous = self.store.get_resident(c["sub"], region_code)
        if previous and standard.SEVERITY[c["status"]] > standard.SEVERITY[previous.status]:
            self.revoke_subject(c["sub"], actor or SYSTEM, reason=f"status became {c['status']}")
        sealed = self.sealer.seal({"name": person.name, "id_number": person.id_number,
                                   "id_type": person.id_type}, context=c["sub"])
        self.store.record_issuance(
            IssuedRecord(c["jti"], c["sub"], c["region"], c["kind"], c["status"], tuple(c["reasons"]),
                         c["iat"], c["exp"]),
            Resident(c["sub"], region_code, self.pseudonymizer.name_digest(person.name), c["status"],
                     tuple(c["reasons"]), self.now(), sealed),
            self.audit.entry(actor or SYSTEM, "issue", c["sub"], region=region_code, status=c["status"],
                             kind=kind, jti=c["jti"], format=issued.format),
            online_answer=issued.answer)
        return issued

    def reissue(self, region_code: str, sub: str, name: str | None, kind: str = "dynamic",
                dep: dict | None = None, actor: dict | None = None, fmt: str | None = None) -> IssuedCode:
        """A fresh code with the resident's current colour (kiosk, assisted lookup, dependants).
        A name, when given, must match; unknown person and wrong name look the same."""
        resident = self.store.get_resident(sub, region_code)
        # The name's digest is computed and compared whether or not the person is known, so a
        # wrong name and an unknown ID number take the same path and the same time.
        typed = self.pseudonymizer.name_digest(name if name is not None else "")
        stored = resident.name_hmac if resident else typed
        if resident is None or (name is not None and not hmac.compare_digest(typed, stored)):
            self.audit.record(actor or SYSTEM, "reissue", sub, result="identity_not_matched",
                              region=region_code)
            refused = IdentityNotMatched("no record matches this ID number and name")
            refused.audited = True
            raise refused
        pii = self.sealer.open(resident.pii_sealed, context=sub)
        person = Person(pii["id_type"], pii["id_number"], pii["name"])
        issuer = self.issuer(region_code)
        extra = {"dep": dep} if dep else None
        claims = issuer.claims(person, resident.status, list(resident.reasons), kind, self.now(), extra)
        issued = issuer.sign(claims, fmt)
        self.store.record_issuance(
            IssuedRecord(claims["jti"], sub, region_code, kind, claims["status"], tuple(claims["reasons"]),
                         claims["iat"], claims["exp"]), None,
            self.audit.entry(actor or SYSTEM, "reissue", sub, region=region_code, kind=kind,
                             jti=claims["jti"], status=claims["status"], format=issued.format),
            online_answer=issued.answer)
        return issued

    def subject(self, person: Person) -> str:
        return self.pseudonymizer.subject(person.id_type, person.id_number)

    # -- online codes: the region's status interface (docs/standard.md §4.4) ----------------------
    def online_status(self, region_code: str, code_id: str) -> str:
        """The signed status of one of this deployment's online codes: what
        ``GET /v1/status/{region}/{code_id}`` answers.  A withdrawn code gets no answer."""
        self.settings.region(region_code)                   # region_unknown
        answer = self.store.online_answer(code_id, region_code)
        if answer is None:
            raise NotFound("no online code with this id")
        if self.store.is_revoked(code_id):
            raise CodeRevoked("this code has been withdrawn by its issuer")
        return answer

    def _local_status(self, region_code: str, code_id: str) -> str | None:
        """For the verifier: a region this deployment issues itself is answered in-process (no
        HTTP to itself, as kiosk lookups); None sends the verifier to the registered address."""
        if region_code not in self.settings.region_codes() or \
                self.settings.issuer_url_for(self.settings.region(region_code)):
            return None
        try:
            return self.online_status(region_code, code_id)
        except NotFound:
            raise CodeUnknown(f"region {region_code} has no online code with this id") from None

    # -- revocation -------------------------------------------------------------------------------
    def revoke_subject(self, sub: str, actor: dict, reason: str = "") -> list[str]:
        jtis = self.store.revoke_subject(sub, self.now())
        self.revocations.refresh()
        self.audit.record(actor, "revoke", sub, codes=len(jtis), reason=reason)
        self.invalidate_trust()
        return jtis

    def revoke_foreign(self, fmt: str, certificate_ids, actor: dict, reason: str = "") -> list[str]:
        """Withdraw foreign certificates by their own identifiers (EU DCC: the UVCI), e.g. from
        an EU revocation list or a fraud report.  Online at once; offline after one refresh."""
        adapter = adapters.get(fmt) if fmt in self.settings.extra_formats else None
        if adapter is None or not hasattr(adapter, "code_id_for"):
            raise BadRequest(f"certificates of format {str(fmt)[:20]!r} cannot be revoked here")
        if not isinstance(certificate_ids, list) or not certificate_ids or \
                not all(isinstance(i, str) and 0 < len(i.strip()) <= 128 for i in certificate_ids):
            raise BadRequest("certificate_ids must be a non-empty list of identifiers (at most 128 characters)")
        jtis = [adapter.code_id_for(i) for i in certificate_ids]
        now = self.now()
        new = self.store.revoke_codes(jtis, f"foreign:{fmt}", now, now + FOREIGN_REVOCATION_SECONDS)
        self.revocations.refresh()
        self.audit.record(actor, "revoke_foreign", None, format=fmt, codes=jtis, new=len(new),
                          reason=str(reason)[:200])
        self.invalidate_trust()
        return jtis

    def import_revocation_list(self, fmt: str, document, actor: dict, iss: str | None = None) -> dict:
        """An EU DCC revocation batch (or list of batches) or a SMART Health Card issuer's rid
        list (for ``iss``); all or nothing, audited, in the next trust list at once."""
        parsed = revocation_lists.parse_dcc_batches(document) if fmt == "eu_dcc" else \
            revocation_lists.parse_shc_crl(document, iss) if fmt == "shc" else None
        if parsed is None:
            raise BadRequest(f"no revocation lists for format {str(fmt)[:20]!r} (eu_dcc or shc)")
        doc = self.revocation_file.merge(fmt, parsed)
        entries = sum(len(b["hashes"]) for b in parsed) if fmt == "eu_dcc" else len(parsed["rids"])
        self.audit.record(actor, "revocation_list_import", None, format=fmt, entries=entries,
                          **({"iss": iss[:200]} if fmt == "shc" else {"kids": sorted({b["kid"] for b in parsed})[:50]}))
        self.invalidate_trust()
        return {"format": fmt, "entries": entries, "total": revocation_lists.count(doc)}

    def revocation_lists(self) -> dict:
        return revocation_lists.summary(self.revocation_file.load())

    # -- keys and the trust list -----------------------------------------------------------------
    def national_jwks(self) -> dict:
        """The national trust-list signer's public keys, which offline verifiers pin."""
        self.keystore.signer(NATIONAL)
        return {"keys": self.keystore.public_jwks(NATIONAL)}

    def _issuer_entries(self) -> list[dict]:
        entries = []
        for region in self.settings.regions:
            self.keystore.signer(region.code, region.algorithms[0])        # first run makes the key
            entries.append(trustlist.issuer_entry(region, self.keystore.public_jwks(region.code)))
        return entries

    def trust_list_jws(self) -> str:
        return self._trust_entry()[1]

    def trust_list(self) -> trustlist.TrustList:
        return self._trust_entry()[2]

    def _trust_input_paths(self) -> tuple[str, ...]:
        """The files whose change re-signs the trust list, as plain strings: the list is asked
        for on every verify, so its freshness check is one ``stat`` each and nothing more."""
        if self._trust_paths is None:
            keys = (self.keystore.index_path(o) for o in (NATIONAL, *self.settings.region_codes()))
            files = (f.path for f in (self.anchor_file, self.revocation_file, self.rule_file))
            self._trust_paths = tuple(map(str, (*keys, *files)))
        return self._trust_paths

    def _trust_entry(self):
        """The signed list, re-signed every 60 s and as soon as a key, anchor, foreign revocation
        list or rule set changed on disk
        (in any process: gateway/trustseq.py), each time with a larger ``seq``."""
        with self._lock:
            now = self.now()
            inputs = tuple(map(filelock.file_stamp, self._trust_input_paths()))
            if self._trust is None or now - self._trust[0] > TRUST_CACHE_SECONDS or now < self._trust[0] \
                    or inputs != self._trust_inputs:
                payload = trustlist.build_payload(self._issuer_entries(), now,
                                                  revoked_jti=self.store.revoked_jtis(now),
                                                  anchors=self.anchor_file.load(),
                                                  foreign_revocations=revocation_lists.current(
                                                      self.revocation_file.load(), now),
                                                  dcc_rules=self.rule_file.load())
                payload["seq"] = trustseq.next_seq(self.settings.data_dir / "trust-list.seq", now)
                token = trustlist.sign(payload, self.keystore.signer(NATIONAL))
                self._trust = (now, token, trustlist.parse(token, self.national_jwks(), now))
                self._trust_inputs = inputs
            return self._trust

    def invalidate_trust(self) -> None:
        with self._lock:
            self._trust = None
            self._issuers.clear()
            self.keystore._cache.clear()

    def add_anchors(self, values, actor: dict, iss: str | None = None) -> list[str]:
        """Trust foreign signers (JWK objects or base64 DER certificates); audited."""
        if not isinstance(values, list) or not values:
            raise BadRequest("give a non-empty list of trust anchors")
        added = self.anchor_file.add([anchors.parse_anchor(v, iss) for v in values])
        self.audit.record(actor, "anchor_add", None, ids=added)
        self.invalidate_trust()
        return added

    def remove_anchor(self, anchor_id: str, actor: dict) -> None:
        self.anchor_file.remove(anchor_id)
        self.audit.record(actor, "anchor_remove", None, id=anchor_id)
        self.invalidate_trust()

    def list_anchors(self) -> list[dict]:
        return [anchors.summary(a) for a in self.anchor_file.load()]

    # -- EU DCC business rules and value sets (gateway/rulesets.py) -------------------------------
    def import_rules(self, country: str, rules, actor: dict) -> list[dict]:
        """Replace a country of arrival's rule set; (identifier, version) of each rule."""
        imported = self.rule_file.import_rules(country, rules)
        ids = [{"identifier": r["Identifier"], "version": r["Version"]} for r in imported]
        self.audit.record(actor, "dcc_rules_import", None, country=country, rules=ids)
        self.invalidate_trust()
        return ids

    def remove_rules(self, country: str, actor: dict) -> None:
        self.rule_file.remove_country(country)
        self.audit.record(actor, "dcc_rules_remove", None, country=country)
        self.invalidate_trust()

    def import_value_sets(self, documents, actor: dict) -> dict:
        counts = {k: len(v) for k, v in self.rule_file.import_value_sets(documents).items()}
        self.audit.record(actor, "dcc_value_sets_import", None, value_sets=counts)
        self.invalidate_trust()
        return counts

    # -- credentials (data manager) ----------------------------------------------------------------
    def add_credential(self, role: str, principal_id: str, actor: dict, kiosk_id: str | None = None) -> str:
        token = self.credentials.add(role, principal_id, kiosk_id=kiosk_id, now=self.now())
        self.audit.record(actor, "credential_add", None, role=role, principal=principal_id,
                          **({"kiosk_id": kiosk_id} if kiosk_id else {}))
        return token

    def revoke_credential(self, principal_id: str, actor: dict) -> dict:
        try:
            gone = self.credentials.revoke(principal_id)
        except NotFound as exc:
            self.audit.record(actor, "credential_revoke", None, result=exc.code, principal=principal_id[:64])
            raise
        self.audit.record(actor, "credential_revoke", None, principal=gone["id"], role=gone["role"])
        return gone

    # -- keys ----------------------------------------------------------------------------------------
    def _key_owner(self, owner: str) -> str:
        if owner != NATIONAL:
            self.settings.region(owner)                      # region_unknown otherwise
        return owner

    def revoke_key(self, owner: str, kid: str, actor: dict, reason: str = "") -> dict:
        """A compromised key: every code it signed is refused from now on — online at once, and
        offline once the verifier has the next trust list (which lists the key as revoked).  An
        active key is replaced by a new one before the next signature."""
        owner = self._key_owner(owner)
        try:
            self.keystore.revoke(owner, kid, self.now())
        except KeyError:
            self.audit.record(actor, "key_revoke", None, result="not_found", owner=owner)
            raise NotFound(f"owner {owner} has no key with this kid") from None
        self.invalidate_trust()
        self.audit.record(actor, "key_revoke", None, owner=owner, kid=kid, reason=str(reason)[:200])
        return {"owner": owner, "kid": kid, "status": "revoked"}

    def rotate_key(self, owner: str, actor: dict | None = None) -> str:
        owner = self._key_owner(owner)
        alg = "ES256" if owner == NATIONAL else self.settings.region(owner).algorithms[0]
        signer = self.keystore.rotate(owner, alg, self.now())
        self.invalidate_trust()
        self.audit.record(actor or SYSTEM, "key_rotate", None, owner=owner, kid=signer.kid)
        return signer.kid

    # -- verifying --------------------------------------------------------------------------------
    def verify(self, text, *, place=None, device=None, now=None, anchors=(), record=True) -> Verdict:
        verdict = self.verifier.verify(text, self._trust_for(anchors), now if now is not None else self.now())
        return self._recorded(verdict, place, device, record)

    def verify_image(self, data: bytes, *, place=None, device=None, now=None, anchors=(),
                     record=True) -> Verdict:
        verdict = self.verifier.verify_image(data, self._trust_for(anchors),
                                             now if now is not None else self.now())
        return self._recorded(verdict, place, device, record)

    def verify_many(self, jobs, *, place=None, device=None, record=True) -> list[Verdict]:
        """``batch.Job``s → verdicts in the same order; large batches on every core
        (gateway/batch.py), each verdict revocation-checked and recorded here as ``verify`` does."""
        jobs = list(jobs)
        # online codes ask their region (or this process) for the status: never in the pool
        pooled = [i for i, job in enumerate(jobs) if job.image is None and not self._is_online(job.text)]
        verified = self._in_pool(len(pooled), lambda pool, token, jwks, now:
                                 pool.verify([jobs[i] for i in pooled], token, jwks, now))
        if verified is None:
            return [self._verify_job(job, place, device, record) for job in jobs]
        results = dict(zip(pooled, verified))
        return [self._recorded(self.verifier.recheck_revocation(results[i]), place, device, record)
                if i in results else self._verify_job(job, place, device, record) for i, job in enumerate(jobs)]

    def _in_pool(self, count: int, call):
        """``call(pool, trust_list_jws, national_jwks, now)`` in the batch pool, or None when
        ``count`` is too few for it, there is one core, or a pool process died (logged; the
        caller then does the work in-process)."""
        if count < batch.PARALLEL_MIN_ITEMS or (os.cpu_count() or 1) < 2:
            return None
        _, token, _ = self._trust_entry()
        pool = self._batch_pool()
        try:
            return call(pool, token, self.national_jwks(), self.now())
        except Exception:       # noqa: BLE001 — OOM, killed: the caller verifies here instead
            log.exception("batch pool failed; doing %d items in-process", count)
            pool.close()
            self._pool = None
            return None

    def _batch_pool(self) -> batch.VerifyPool:
        if self._pool is None:
            formats = [f for f in self.settings.formats() if f != ONLINE_FORMAT]
            options = {k: v for k, v in self.settings.format_options.items() if k != ONLINE_FORMAT}
            self._pool = batch.VerifyPool(formats, options)
        return self._pool

    def answer_in_pool(self, kind: str, entries: list, *, place=None, device=None) -> list | None:
        """Batch entries answered in the pool (gateway/batch.py): ``"lines"`` (verify-batch JSON
        Lines) or ``"items"`` (``/v1/verify/batch`` items) → ready answer texts, each
        revocation-checked, counted and recorded here; None for an entry the caller must answer
        itself (and for the whole batch when it is too small for the pool)."""
        answers = self._in_pool(len(entries), lambda pool, token, jwks, now:
                                getattr(pool, "answer_" + kind)(entries, token, jwks, now))
        if answers is None:
            return None
        return batch.settle(answers, self.verifier.is_revoked, lambda scans: self._record_scans(scans, place, device))

    def _record_scans(self, scans, place, device) -> None:
        """Scan fields ``(valid, format, region, status, code_id, error)`` counted and stored as
        :meth:`_recorded` does for a verdict, in one group."""
        at, place, device = self.now(), _short(place), _short(device)
        events = []
        for valid, fmt, region, status, code_id, error in scans:
            metrics.count_outcome(fmt, status if valid else error)
            if _worth_storing(valid, error):
                events.append(ScanEvent(at=at, valid=valid, format=fmt, region=region, status=status,
                                        code_id=code_id, error=error, place=place, device=device))
        (self.scan_writer or self.store).add_scans(events)

    def _is_online(self, text) -> bool:
        return isinstance(text, str) and any(a.name == ONLINE_FORMAT and a.detect(text.strip())
                                             for a in self.verifier.adapters)

    def _verify_job(self, job, place, device, record) -> Verdict:
        if job.image is not None:
            return self.verify_image(job.image, place=place, device=device, now=job.now, anchors=job.anchors,
                                     record=record)
        return self.verify(job.text, place=place, device=device, now=job.now, anchors=job.anchors, record=record)

    def verify_image_codes(self, data: bytes, *, place=None, device=None, now=None, anchors=(), record=True):
        """Every code in the image (adapters.verifier.ImageVerdicts), each recorded as a scan."""
        result = self.verifier.verify_image_codes(data, self._trust_for(anchors),
                                                  now if now is not None else self.now())
        for verdict in result.verdicts:
            self._recorded(verdict, place, device, record)
        return result

    def _trust_for(self, anchors):
        trust = self.trust_list()
        return trust.with_anchors(anchors) if anchors else trust

    def record(self, verdict: Verdict, place=None, device=None) -> Verdict:
        """Count and store a verdict reached outside the verifier (e.g. an image too large)."""
        return self._recorded(verdict, place, device, True)

    def _recorded(self, verdict: Verdict, place, device, record: bool) -> Verdict:
        """Count every verdict; store a scan event only for a code whose format was recognised.
        Undecodable input (empty, unknown, unreadable, too large) is counted, not stored row by
        row: junk from one client must not fill the disk for 30 days."""
        metrics.count_verdict(verdict)
        if record and _worth_storing(verdict.valid, verdict.errors[0]["code"] if verdict.errors else None):
            (self.scan_writer or self.store).add_scan(scan_event(verdict, self.now(), place, device))
        return verdict

    def group_scan_writes(self, **options) -> None:
        """Scan events through a queue written in groups (store/scanqueue.py): what a serving
        process and ``verify-batch`` do (and then ``close()`` on the way out); other commands
        and in-process callers write each scan at once."""
        if self.scan_writer is None:
            self.scan_writer = ScanWriter(self.store, **options)

    def flush_scans(self) -> None:
        """Everything verified so far is in the store (call before reading scan events)."""
        if self.scan_writer is not None:
            self.scan_writer.flush()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self.scan_writer is not None:
            self.scan_writer.close()
        self.store.close()

    # -- lookups for people without phones ---------------------------------------------------------
    def home_region(self, person: Person, region: str | None = None) -> str:
        """The region that holds this person's status: given, or read off a resident ID."""
        if region is None and person.id_type == "resident":
            region = idcard.parse(person.id_number).region
        if region is None:
            region = self.settings.document_regions.get(person.id_type)
        if region is None:
            raise BadRequest("give region for documents other than a resident ID card")
        try:
            self.settings.region(region)
        except UnknownRegion:
            raise UnknownRegion(f"region {region} is not served by this gateway") from None
        return region

    def _limit(self, key: str, per_hour: int, per_minute: int | None = None) -> None:
        """Count one use of ``key`` (a credential id) against its hourly and per-minute limits."""
        now = self.now()
        if per_minute is not None and self.store.hit(f"{key}:m", now, MINUTE) > per_minute:
            raise RateLimited("too many requests this minute; please wait a moment", retry_after=MINUTE)
        if self.store.hit(key, now, HOUR) > per_hour:
            raise RateLimited("too many lookups this hour; please wait before trying again",
                              retry_after=HOUR)

    def lookup(self, principal: Principal, person: Person, *, assisted: bool, kiosk_id: str | None,
               region: str | None = None, dep: dict | None = None, fmt: str | None = None) -> dict:
        """Kiosk (card read) or assisted (ID number + name) lookup, through the region's issuer;
        the answer is verified like any scanned code before anyone sees a colour.  Limits are
        keyed on the credential: a kiosk's body ``kiosk_id`` must be its own (Principal.device)."""
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
            result = self._ask_issuer(home, {"id_type": person.id_type, "id_number": person.id_number,
                                             "name": person.name if (assisted or person.name) else None,
                                             "dep": dep, "format": fmt}, kiosk_id)
        except HealthCodeError as exc:
            metrics.LOOKUPS.labels(action, exc.code).inc()
            self.audit.record(actor, action, sub, result=exc.code)
            exc.audited = True
            raise
        metrics.LOOKUPS.labels(action, "ok").inc()
        metrics.LOOKUP_SECONDS.observe(time.perf_counter() - started)
        self.audit.record(actor, action, sub, result="ok", region=home, status=result["status"],
                          jti=result["code_id"])
        return result

    def _ask_issuer(self, region: str, body: dict, device: str | None) -> dict:
        url = self.settings.issuer_url_for(self.settings.region(region))
        if url:
            answer = self.issuer_client.lookup(url, region, self.issuer_tokens()[region],
                                               {k: v for k, v in body.items() if v is not None})
        else:       # no issuer address: the region is issued by this deployment itself
            answer = {"qr_text": self._local_lookup(region, body).qr_text}
        verdict = self.verify(answer.get("qr_text", ""), device=device)
        if not verdict.valid or verdict.region != region:
            raise UpstreamUnavailable(f"the issuer for region {region} returned a code that does not verify")
        return {**verdict.as_dict(), "qr_text": answer["qr_text"]}

    def _local_lookup(self, region: str, body: dict) -> IssuedCode:
        """What ``POST /v1/issuers/{region}/lookup`` does, without the HTTP round trip."""
        actor = {"role": "issuer", "id": f"issuer-{region}", "region": region}
        if body.get("sub"):
            return self.reissue(region, body["sub"], None, dep=body.get("dep"), actor=actor,
                                fmt=body.get("format"))
        person = Person(body["id_type"], body["id_number"], body.get("name") or "")
        return self.reissue(region, self.subject(person), body.get("name"), dep=body.get("dep"), actor=actor,
                            fmt=body.get("format"))

    # -- dependants (一人绑定多人) -----------------------------------------------------------------
    def bind_dependent(self, principal: Principal, holder: Person, dependent: Person, relation: str,
                       consent: dict, region: str | None = None, kiosk_id: str | None = None) -> dict:
        """Bind a dependant to a holder (一人绑定多人).  Both must be who the helper says: each ID
        number with its matching name, checked by the person's own region as an assisted lookup
        is.  Consent is recorded by method and reference; binds are limited per credential, and
        a holder carries at most ``dependents_per_holder`` others.  Refusals are audited too."""
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
                raise BadRequest("a person cannot be their own dependant")
            dep_region = self.home_region(dependent, region)
            known = {d.dependent_sub for d in self.store.dependents(holder_sub)}
            if dep_sub not in known and len(known) >= limits["dependents_per_holder"]:
                raise BadRequest(f"a holder may carry at most {limits['dependents_per_holder']} dependants")
            for person, home in ((holder, self.home_region(holder)), (dependent, dep_region)):
                self._ask_issuer(home, {"id_type": person.id_type, "id_number": person.id_number,
                                        "name": person.name}, kiosk_id)          # identity_not_matched
        except HealthCodeError as exc:
            self.audit.record(actor, "bind_dependent", dep_sub, result=exc.code, holder=holder_sub)
            exc.audited = True
            raise
        record = {"method": str(consent["method"]), "reference": str(consent["reference"])[:100],
                  "recorded_at": self.now(), "recorded_by": principal.id}
        self.store.add_dependent(Dependent(holder_sub, dep_sub, dep_region, relation, record, self.now()))
        self.audit.record(actor, "bind_dependent", dep_sub, holder=holder_sub, relation=relation,
                          consent_method=record["method"], consent_reference=record["reference"])
        return {"holder": standard.mask_name(holder.name), "dependent": standard.mask_name(dependent.name),
                "relation": relation, "region": dep_region}

    def dependant_codes(self, principal: Principal, holder: Person, kiosk_id: str | None) -> dict:
        holder_sub = self.subject(holder)
        own = self.lookup(principal, holder, assisted=True, kiosk_id=kiosk_id)
        kiosk_id = principal.device(kiosk_id)
        out = []
        for dep in self.store.dependents(holder_sub):
            dep_claim = {"holder_sub": holder_sub, "relation": dep.relation,
                         "holder_name_masked": standard.mask_name(holder.name)}
            try:
                answer = self._ask_issuer(dep.region, {"sub": dep.dependent_sub, "dep": dep_claim}, kiosk_id)
                self.audit.record(principal.as_actor(), "dependant_lookup", dep.dependent_sub,
                                  holder=holder_sub, status=answer["status"])
                out.append({"relation": dep.relation, **answer})
            except (IdentityNotMatched, UpstreamUnavailable) as exc:
                out.append({"relation": dep.relation, "valid": False, "status": None,
                            "errors": [exc.as_dict()]})
        return {"holder": own, "dependents": out}

    # -- printed offline codes --------------------------------------------------------------------
    def print_cards(self, entries, layout: str = "single", actor: dict | None = None,
                    fmt: str | None = None) -> bytes:
        """entries: (region, Person, status or None).  Everything is validated before anything is
        issued, so one bad row in a care home's list issues nothing.  ``fmt="online"`` prints
        online codes (the card's QR is the region's status URL; regions must offer them)."""
        entries = list(entries)
        for region, person, status in entries:
            self.settings.region(region)
            if status not in (None, *standard.STATUSES):
                raise BadRequest("status must be green, yellow or red")
            if fmt == ONLINE_FORMAT and not self.settings.region(region).online_url:
                raise BadRequest(f"region {region} does not issue online codes")
        cards = []
        for region, person, status in entries:
            if status is None:
                resident = self.store.get_resident(self.subject(person), region)
                status = resident.status if resident else None
            issued = self.issue(region, person, status=status, kind="offline", fmt=fmt, actor=actor)
            cfg, c = self.settings.region(region), issued.claims
            cards.append(printing.Card(issued.qr_text, cfg.name, cfg.name_en, c["status"], c["name_masked"],
                                       c["id_masked"], c["iat"], c["exp"], c["jti"],
                                       online=issued.answer is not None))
        self.audit.record(actor or SYSTEM, "print", None, cards=len(cards), layout=layout)
        return printing.render_pdf(cards, layout)

    # -- transcoding (粤↔澳 and between any two regions) -------------------------------------------
    def transcode(self, payload: str, target_region: str, fmt: str | None = None,
                  actor: dict | None = None) -> tuple[IssuedCode, Verdict]:
        """A verified code of one region → a code of another, re-decided under the target's rules.

        The source's reasons become facts for the target's rules (a close contact is red in
        Guangdong and yellow in Sichuan); reasons that cannot be re-decided (an issuer's manual
        decision) keep the source colour as a floor.  ``prov`` records the source and the origin,
        so an auditor can trace a code through any number of hops."""
        issuer = self.issuer(target_region)
        source = self.verify(payload, device="transcoder")
        if not source.valid:
            raise TranscodeRefused(f"source code is not valid: {source.errors[0]['code']}")
        c, now = source.claims, self.now()
        status, reasons = transcoding.redecide(issuer.region.rules, c["status"], c["reasons"], c["iat"], now)
        prev = c.get("prov", {})
        prov = {"region": c["region"], "jti": c["jti"], "format": source.format,
                "origin_region": prev.get("origin_region", prev.get("region", c["region"])),
                "origin_jti": prev.get("origin_jti", prev.get("jti", c["jti"]))}
        ttl = issuer.region.dynamic_ttl if c["kind"] == "dynamic" else issuer.region.offline_ttl
        claims = {**{k: c[k] for k in ("sub", "name_masked", "id_masked", "id_type", "kind")},
                  "ver": c["ver"], "region": target_region, "jti": secrets.token_urlsafe(12),
                  "iat": now, "exp": min(c["exp"], now + ttl), "status": status,
                  "reasons": reasons + ["transcoded"], "prov": prov}
        if "dep" in c:
            claims["dep"] = c["dep"]
        issued = issuer.sign(claims, fmt)
        self.store.record_issuance(
            IssuedRecord(claims["jti"], c["sub"], target_region, claims["kind"], status, tuple(claims["reasons"]),
                         now, claims["exp"]), None,
            self.audit.entry(actor or SYSTEM, "transcode", c["sub"], source_region=c["region"],
                             source_jti=c["jti"], target_region=target_region, jti=claims["jti"],
                             status=status, source_status=c["status"]),
            online_answer=issued.answer)
        return issued, source

    # -- retention -------------------------------------------------------------------------------
    def purge(self, actor: dict | None = None) -> dict:
        before = self.now() - self.settings.retention_days * 86400
        self.flush_scans()
        counts = self.store.purge(before)
        self.audit.record(actor or SYSTEM, "purge", None, before=before, **counts)
        return counts


def scan_event(verdict: Verdict, at: int, place=None, device=None) -> ScanEvent:
    error = verdict.errors[0]["code"] if verdict.errors else None
    return ScanEvent(at=at, valid=verdict.valid, format=verdict.format, region=verdict.region,
                     status=verdict.status, code_id=verdict.code_id, error=error,
                     place=_short(place), device=_short(device))


def _worth_storing(valid: bool, error: str | None) -> bool:
    """A scan is stored when its format was recognised; undecodable input is only counted."""
    return valid or error not in UNDECODABLE


def _short(value) -> str | None:
    return None if value is None else str(value)[:64]
