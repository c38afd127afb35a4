"""Trust: the signed national trust list and everything that goes into it — national and regional
keys, foreign trust anchors, EU business rules and value sets, foreign revocation lists and the
codes this deployment withdrew.  Every change is audited and reaches the next list at once."""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable

import adapters
from adapters import revocation_lists
from config.settings import Region, Settings
from gateway import anchors, delegations, foreign_revocations, rulesets, trustseq
from issuers.keys import NATIONAL, KeyStore
from standard import KINDS, ONLINE_FORMAT, delegation, idcard, revocation_file, trustlist
from standard.errors import BadRequest, KeyCustodyUnavailable, NotFound, TrustListFull, UnknownRegion
from store import Store
from store.audit import AuditLog
from toolkit import filelock

log = logging.getLogger(__name__)

TRUST_CACHE_SECONDS = 60
INPUTS_RECHECK_SECONDS = 1.0                  # every input file stat'ed again at least this often
CUSTODY_RETRY_SECONDS = 10                    # a kept list: the lost token is asked again after this
FOREIGN_REVOCATION_SECONDS = 400 * 86400     # longer than any foreign certificate we read lives
SYSTEM = {"role": "system", "id": "healthcode"}
JTI_ENTRY_CHARS = 48                          # one withdrawn code id in revoked_jti, quotes and comma
SIGNATURE_ROOM = 2048                         # the JWS header and signature around the payload
KEY_ROOM_CHARS = 64                           # a rotation's new key: its comma, the retired key's retired_at
REVOCATION_FILES_KEPT = 3                     # content-addressed files kept for batch workers


class TrustService:
    """The list is re-signed every 60 s and as soon as a key, anchor, foreign revocation list,
    rule set or delegation changed on disk (in any process: gateway/trustseq.py), each time with
    a larger ``seq``.  Asked for on every verify, its freshness check is one ``stat`` of the data
    directory's change marker, which every writer of those files replaces after writing
    (:data:`toolkit.filelock.TRUST_INPUTS_CHANGED`); the files themselves are stat'ed when it
    moved and at least every second, so a file changed by hand is noticed too."""

    def __init__(self, settings: Settings, store: Store, audit: AuditLog, keystore: KeyStore,
                 revocations, now: Callable[[], int]):
        self.settings = settings
        self.store = store
        self.audit = audit
        self.keystore = keystore
        self.revocations = revocations          # the in-memory set of withdrawn codes
        self.now = now
        data = settings.data_dir
        self.anchor_file = anchors.AnchorFile(data)
        self.revocation_file = foreign_revocations.RevocationFile(data)
        self.rule_file = rulesets.RuleFile(data)
        self.delegation_file = delegations.DelegationFile(data)
        self._trust: tuple[float, str, trustlist.TrustList] | None = None
        self._trust_inputs: tuple = ()
        self._trust_paths: tuple[str, ...] | None = None
        self._inputs_marker = Path(data) / filelock.TRUST_INPUTS_CHANGED
        self._inputs_seen: tuple[tuple, float, tuple] | None = None     # (marker stamp, when, inputs)
        self._custody_retry_at = 0.0
        self._lock = threading.Lock()
        self._held: tuple | None = None                 # (what it was made of, revocation_file.Held)
        self.revocation_dir = Path(data) / "trust-list-revocations"
        # every write that feeds the signed list checks the whole list still fits, before storing
        self.anchor_file.before_write = lambda anchors: self._check_growth("anchors", anchors)
        self.rule_file.before_write = lambda rules: self._check_growth("dcc_rules", rules)

    # -- the list ---------------------------------------------------------------------------------
    def national_jwks(self) -> dict:
        """The national trust-list signer's public keys, which offline verifiers pin."""
        self.keystore.signer(NATIONAL)
        return {"keys": self.keystore.public_jwks(NATIONAL)}

    def trust_list_jws(self) -> str:
        return self._entry()[1]

    def trust_list(self) -> trustlist.TrustList:
        return self._entry()[2]

    def with_anchors(self, extra_anchors) -> trustlist.TrustList:
        """The current list, plus a caller's own anchors for one verification (test vectors)."""
        trust = self.trust_list()
        return trust.with_anchors(extra_anchors) if extra_anchors else trust

    def invalidate(self) -> None:
        """Re-sign before the next use, re-reading every key."""
        with self._lock:
            self._trust = None
            self.keystore.forget()

    def _issuer_entries(self, now: int, withdrawn: dict | None = None) -> list[dict]:
        """Each region's entry; ``withdrawn`` replaces the withdrawn cities on file (a change
        being checked)."""
        entries = []
        withdrawn = self.delegation_file.withdrawn() if withdrawn is None else withdrawn
        for region in self.settings.regions:
            self.keystore.signer(region.code, region.algorithms[0])        # first run makes the key
            delegated = self._delegated(region, now, withdrawn) if region.parent else None
            entries.append(trustlist.issuer_entry(region, self.keystore.public_jwks(region.code), delegated))
        return entries

    def _delegated(self, city, now: int, withdrawn: dict) -> dict:
        """What a city's entry carries (§7.1): the withdrawal, or a delegation signed now by its
        province's active key, valid from the city's first key for 30 days; nothing at all (so
        every verifier refuses the city's codes) when its parent is no configured province of it."""
        if city.code in withdrawn:
            return {"delegation_status": delegation.WITHDRAWN, "withdrawn_at": withdrawn[city.code]["at"]}
        try:
            parent = self.settings.region(city.parent)
        except UnknownRegion:
            return {}
        if parent.parent or not delegation.is_city_of(city.code, parent.code):
            return {}
        signer = self.keystore.signer(parent.code, parent.algorithms[0])
        since = min((r.created for r in self.keystore.records(city.code)), default=now)
        kinds = [*KINDS, *([ONLINE_FORMAT] if city.online_url else [])]
        payload = delegation.claims(city.code, parent.code, [city.area_prefix], kinds, since, now + delegation.DEFAULT_TTL, now)
        return {"delegation_status": delegation.ACTIVE, "delegation": delegation.sign(payload, signer)}

    def _input_paths(self) -> tuple[str, ...]:
        if self._trust_paths is None:
            keys = (self.keystore.index_path(o) for o in (NATIONAL, *self.settings.region_codes()))
            files = (f.path for f in (self.anchor_file, self.revocation_file, self.rule_file, self.delegation_file))
            self._trust_paths = tuple(map(str, (*keys, *files)))
        return self._trust_paths

    def _payload(self, now: int, **sections) -> dict:
        """The list's payload as of now; ``sections`` replace what is stored (a change being
        checked).  Foreign revocation lists ride in their own file, named by hash."""
        held, entries = self._revocations(now)
        payload = trustlist.build_payload(
            self._issuer_entries(now, sections.get("withdrawn")), now,
            revoked_jti=sections.get("revoked_jti", self.store.revoked_jtis(now)),
            anchors=sections.get("anchors", self.anchor_file.load()),
            dcc_rules=sections.get("dcc_rules", self.rule_file.load()))
        if held is not None:
            payload[revocation_file.REF] = revocation_file.reference(held, entries)
        return payload

    def _inputs(self) -> tuple:
        """The stamps of every input file (and of the marker); stat'ed again only when the
        marker moved or :data:`INPUTS_RECHECK_SECONDS` passed (called under the lock)."""
        marker, clock, seen = filelock.file_stamp(self._inputs_marker), time.monotonic(), self._inputs_seen
        if seen is not None and seen[0] == marker and 0 <= clock - seen[1] < INPUTS_RECHECK_SECONDS:
            return seen[2]
        inputs = (marker, *map(filelock.file_stamp, self._input_paths()))
        self._inputs_seen = (marker, clock, inputs)
        return inputs

    def _entry(self) -> tuple[float, str, trustlist.TrustList]:
        with self._lock:
            now = self.now()
            inputs = self._inputs()
            if self._trust is not None and inputs == self._trust_inputs and now < self._custody_retry_at:
                return self._trust              # kept while the token is lost (below)
            if self._trust is None or now - self._trust[0] > TRUST_CACHE_SECONDS or now < self._trust[0] \
                    or inputs != self._trust_inputs:
                try:
                    payload = self._payload(now)
                    payload["seq"] = trustseq.next_seq(self.settings.data_dir / "trust-list.seq", now)
                    token = trustlist.sign(payload, self.keystore.signer(NATIONAL))
                    national = self.national_jwks()
                except KeyCustodyUnavailable as exc:
                    # The token is gone for a moment: verifiers keep the list already signed
                    # while nothing that goes into it changed and it is still valid; a changed
                    # key, anchor or rule set is never hidden behind the old list.
                    kept = self._trust
                    if kept is None or inputs != self._trust_inputs or now >= kept[2].expires:
                        raise
                    log.warning("trust list not re-signed, the one signed at %s kept: %s", kept[0], exc.message)
                    self._custody_retry_at = now + CUSTODY_RETRY_SECONDS
                    return kept
                self._custody_retry_at = 0.0
                trust = trustlist.parse(token, national, now)
                revocation_file.attach(trust, self._revocations(now)[0])
                self._trust = (now, token, trust)
                self._trust_inputs = inputs
            return self._trust

    # -- the revocation file (standard/revocation_file.py) ----------------------------------------
    def revocation_file_held(self) -> revocation_file.Held | None:
        """The revocation file the current list names (None: it names none)."""
        return getattr(self.trust_list(), "revocation_file", None)

    def _revocations(self, now: int) -> tuple[revocation_file.Held | None, int]:
        """The current foreign revocation lists as a file and their entry count; read, encoded
        and hashed again only when the stored lists changed or a batch expired."""
        stamp, stored = self.revocation_file.snapshot()
        doc = revocation_lists.current(stored, now)
        entries = revocation_lists.count(doc)
        if not entries:
            return None, 0
        made_of = (stamp, len(doc["eu_dcc"]), len(doc["shc"]))
        if self._held is None or self._held[0] != made_of:
            held = revocation_file.hold(doc)
            self._keep_on_disk(held)
            self._held = (made_of, held)
        return self._held[1], entries

    def _keep_on_disk(self, held: revocation_file.Held) -> None:
        """``trust-list-revocations/<sha256>.json``, for the batch pool's processes; the newest
        few are kept (a worker may still be reading the previous one)."""
        self.revocation_dir.mkdir(parents=True, exist_ok=True)
        path = self.revocation_dir / f"{held.sha256}.json"
        if not path.exists():
            filelock.write_atomically(path, held.data.decode())
        old = sorted(self.revocation_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[REVOCATION_FILES_KEPT:]:
            stale.unlink(missing_ok=True)

    # -- the list's size: checked before every change is stored ------------------------------------
    def check_fits(self, extra_withdrawn: int = 0, extra_chars: int = 0, **sections) -> None:
        """``trust_list_full`` when the signed list, with ``sections`` replaced (``withdrawn``:
        the withdrawn cities), ``extra_withdrawn`` more withdrawn codes and ``extra_chars`` more
        characters of JSON, would be longer than every verifier accepts
        (:data:`standard.trustlist.MAX_TRUST_LIST_CHARS`)."""
        payload = self._payload(self.now(), **sections)
        body = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        body += extra_withdrawn * JTI_ENTRY_CHARS + extra_chars
        signed = (body * 4 + 2) // 3 + SIGNATURE_ROOM
        if signed > trustlist.MAX_TRUST_LIST_CHARS:
            raise TrustListFull(f"this change would make the signed trust list {signed:,} characters, more than the "
                                f"{trustlist.MAX_TRUST_LIST_CHARS:,} every verifier accepts; nothing was stored")

    def _check_growth(self, section: str, new) -> None:
        """A file feeding the list is about to be written: a change that does not grow it always
        passes (removing must work on a full list); one that grows it must fit."""
        current = {"anchors": self.anchor_file, "dcc_rules": self.rule_file}[section].load()
        if len(json.dumps(new, ensure_ascii=False)) > len(json.dumps(current, ensure_ascii=False)):
            self.check_fits(**{section: new})

    # -- foreign trust anchors --------------------------------------------------------------------
    def add_anchors(self, values, actor: dict, iss: str | None = None) -> list[str]:
        """Trust foreign signers (JWK objects or base64 DER certificates); audited."""
        if not isinstance(values, list) or not values:
            raise BadRequest("give a non-empty list of trust anchors")
        added = self.anchor_file.add([anchors.parse_anchor(v, iss) for v in values])
        self.audit.record(actor, "anchor_add", None, ids=added)
        self.invalidate()
        return added

    def remove_anchor(self, anchor_id: str, actor: dict) -> None:
        self.anchor_file.remove(anchor_id)
        self.audit.record(actor, "anchor_remove", None, id=anchor_id)
        self.invalidate()

    def list_anchors(self) -> list[dict]:
        return [anchors.summary(a) for a in self.anchor_file.load()]

    # -- EU DCC business rules and value sets (gateway/rulesets.py) -------------------------------
    def import_rules(self, country: str, rules, actor: dict) -> list[dict]:
        """Replace a country of arrival's rule set; (identifier, version) of each rule."""
        imported = self.rule_file.import_rules(country, rules)
        ids = [{"identifier": r["Identifier"], "version": r["Version"]} for r in imported]
        self.audit.record(actor, "dcc_rules_import", None, country=country, rules=ids)
        self.invalidate()
        return ids

    def remove_rules(self, country: str, actor: dict) -> None:
        self.rule_file.remove_country(country)
        self.audit.record(actor, "dcc_rules_remove", None, country=country)
        self.invalidate()

    def import_value_sets(self, documents, actor: dict) -> dict:
        counts = {k: len(v) for k, v in self.rule_file.import_value_sets(documents).items()}
        self.audit.record(actor, "dcc_value_sets_import", None, value_sets=counts)
        self.invalidate()
        return counts

    def rule_summary(self) -> dict:
        return self.rule_file.summary()

    # -- withdrawn foreign certificates and revocation lists --------------------------------------
    def revoke_foreign(self, fmt: str, certificate_ids, actor: dict, reason: str = "") -> list[str]:
        """Withdraw foreign certificates by their own identifiers (EU DCC: the UVCI), e.g. from
        an EU revocation list or a fraud report.  Online at once; offline after one refresh."""
        adapter = adapters.revocable_format(fmt) if fmt in self.settings.extra_formats else None
        if adapter is None:
            raise BadRequest(f"certificates of format {str(fmt)[:20]!r} cannot be revoked here")
        if not isinstance(certificate_ids, list) or not certificate_ids or \
                not all(isinstance(i, str) and 0 < len(i.strip()) <= 128 for i in certificate_ids):
            raise BadRequest("certificate_ids must be a non-empty list of identifiers (at most 128 characters)")
        jtis = [adapter.code_id_for(i) for i in certificate_ids]
        now = self.now()
        self.check_fits(extra_withdrawn=len(set(jtis)))
        new = self.store.revoke_codes(jtis, f"foreign:{fmt}", now, now + FOREIGN_REVOCATION_SECONDS)
        self.revocations.refresh()
        self.audit.record(actor, "revoke_foreign", None, format=fmt, codes=jtis, new=len(new),
                          reason=str(reason)[:200])
        self.invalidate()
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
        self.invalidate()
        return {"format": fmt, "entries": entries, "total": revocation_lists.count(doc)}

    def revocation_lists(self) -> dict:
        return revocation_lists.summary(self.revocation_file.load())

    def remove_revocation_list(self, fmt: str, key: dict, actor: dict) -> dict:
        """Drop a held list: an EU DCC ``kid`` (all its hash types, or one ``hash_type``) or a SHC
        (``iss``, ``kid``); audited; not_found when nothing matched."""
        removed, doc = self.revocation_file.remove(fmt, key)
        if not removed:
            self.audit.record(actor, "revocation_list_remove", None, result="not_found", format=str(fmt)[:20])
            raise NotFound("no revocation list held for this key")
        self.audit.record(actor, "revocation_list_remove", None, format=fmt, entries=removed,
                          **{k: str(v)[:200] for k, v in key.items() if v is not None})
        self.invalidate()
        return {"format": fmt, "removed": removed, "total": revocation_lists.count(doc)}

    # -- keys --------------------------------------------------------------------------------------
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
        self.invalidate()
        self.audit.record(actor, "key_revoke", None, owner=owner, kid=kid, reason=str(reason)[:200])
        return {"owner": owner, "kid": kid, "status": "revoked"}

    def rotate_key(self, owner: str, actor: dict | None = None) -> str:
        owner = self._key_owner(owner)
        alg = "ES256" if owner == NATIONAL else self.settings.region(owner).algorithms[0]
        if owner != NATIONAL:              # the new key joins the owner's entry: it must fit
            self.check_fits(extra_chars=max((len(json.dumps(k, separators=(",", ":"))) for k in
                                             self.keystore.public_jwks(owner)), default=0) + KEY_ROOM_CHARS)
        signer = self.keystore.rotate(owner, alg, self.now())
        self.invalidate()
        self.audit.record(actor or SYSTEM, "key_rotate", None, owner=owner, kid=signer.kid)
        return signer.kid

    # -- city delegations (§7.1) -------------------------------------------------------------------
    def _city(self, city) -> Region:
        """The configured city region ``city`` names: bad_request for anything but six digits or a
        province, region_unknown for a code not configured."""
        if not isinstance(city, str) or not delegation.is_city_of(city, city[:2] + "0000"):
            raise BadRequest("a city is named by its 6-digit region code below province level (e.g. 440100)")
        region = self.settings.region(city)
        if not region.parent:
            raise BadRequest(f"region {city} issues on its own, not under a province's delegation")
        return region

    def delegation_withdrawn(self, region_code: str) -> bool:
        """Has its province withdrawn this city's delegation?  What the next signed list says
        (the list is re-signed from the same file); another process's withdrawal counts at once."""
        return self.delegation_file.is_withdrawn(region_code)

    def list_delegations(self) -> list[dict]:
        """Every city of this deployment, its province and whether its delegation stands."""
        withdrawn = self.delegation_file.withdrawn()
        out = []
        for region in self.settings.regions:
            if region.parent:
                record = withdrawn.get(region.code)
                out.append({"city": region.code, "name": region.name, "parent": region.parent,
                            "status": delegation.WITHDRAWN if record else delegation.ACTIVE,
                            **({"withdrawn_at": record["at"], "withdrawn_by": record["by"],
                                "reason": record.get("reason", "")} if record else {})})
        return out

    def withdraw_delegation(self, city, actor: dict, reason: str = "") -> dict:
        """Withdraw ``city``'s delegation: from the next trust list (signed at once) every code
        of the city is refused, online and offline.  Audited (``delegation_withdraw``); the
        reason is kept (delegations.json, the list of delegations) with every resident ID
        number in it masked."""
        region = self._city(city)
        reason = idcard.mask_in_text(str(reason or ""))[:200]     # kept and served: never a plain ID number
        changed = self.delegation_file.withdraw(region.code, self.now(), str(actor.get("id", ""))[:64], reason)
        self.audit.record(actor, "delegation_withdraw", None, city=region.code, parent=region.parent,
                          reason=reason, changed=changed)
        self.invalidate()
        return {"city": region.code, "parent": region.parent, "status": delegation.WITHDRAWN, "changed": changed}

    def restore_delegation(self, city, actor: dict) -> dict:
        """Restore ``city``'s delegation: the next trust list carries a fresh one from its
        province, and the city's codes verify again.  Audited (``delegation_restore``)."""
        region = self._city(city)
        withdrawn = self.delegation_file.withdrawn()
        if withdrawn.pop(region.code, None) is not None:        # a fresh delegation joins the list
            try:
                self.check_fits(withdrawn=withdrawn)
            except TrustListFull as exc:
                self.audit.record(actor, "delegation_restore", None, result=exc.code, city=region.code,
                                  parent=region.parent)
                raise
        changed = self.delegation_file.restore(region.code)
        self.audit.record(actor, "delegation_restore", None, city=region.code, parent=region.parent, changed=changed)
        self.invalidate()
        return {"city": region.code, "parent": region.parent, "status": delegation.ACTIVE, "changed": changed}
