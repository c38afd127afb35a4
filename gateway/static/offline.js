// Offline verification in the browser (docs/standard.md §4, §7): the same checks as
// adapters/base.py and standard/trustlist.py, in the same order, with WebCrypto — and SM2SM3
// (SM2 with SM3, docs/standard.md §4.1) with the vendored sm-crypto (sm2.js), as no browser has it.
//
// Why it exists: a checkpoint must keep working when the network drops.  The page caches the
// signed national trust list; the list itself is checked against the national keys pinned in
// the page (never a key the list names for itself), then each regional code is checked against
// the list, and a city's codes against the delegation its province signed into the list (§7.1).
// The format tables come from the adapters (GET /checkpoint/formats.json), so the
// browser and the server read the same tables.  Foreign certificates (EU DCC, SMART) are not
// verified here: they need CBOR/COSE/X.509, and the page says so instead of guessing.
"use strict";
const HCOffline = (() => {
  const SKEW = 60;
  const MAX_TOKEN = 12000, MAX_PAYLOAD = 12000, MAX_TRUST_LIST = 5000000;
  const MAX_LIFETIME = {dynamic: 300, offline: 604800};
  // standard/trustlist.py: MAX_TTL, CLOCK_SKEW, SEQ_LEAD
  const LIST_MAX_TTL = 604800, LIST_SKEW = 60, SEQ_LEAD = 3600;
  const NATIONAL_ALGS = ["ES256", "EdDSA", "SM2SM3"];     // standard/jose.py NATIONAL_ALGORITHMS
  const SM2_SIGNER_ID = "1234567812345678";                 // standard/sm2.py SIGNER_ID (GM/T 0009)
  const SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123n;
  const FORBIDDEN = ["jku", "x5u", "jwk", "x5c", "crit"];
  const P256_HALF = (0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551n) / 2n;
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const OPTIONAL = ["prov", "dep"];

  class CodeError extends Error {
    constructor(code, message) { super(message); this.code = code; }
  }
  const fail = (code, message) => { throw new CodeError(code, message); };

  // Strict base64url, as standard/jose.py: no padding, no stray characters, canonical tail.
  function b64urlDecode(text) {
    if (typeof text !== "string" || text.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(text)) fail("malformed", "not base64url");
    const tail = text.length % 4;
    if (tail && (B64.indexOf(text[text.length - 1]) & (tail === 2 ? 0x0F : 0x03))) fail("malformed", "non-canonical base64url");
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - tail) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function jsonOf(bytes, what) {
    let value;
    try { value = JSON.parse(new TextDecoder("utf-8", {fatal: true}).decode(bytes)); }
    catch (e) { fail("malformed", `${what} is not JSON`); }
    if (!value || typeof value !== "object" || Array.isArray(value)) fail("malformed", `${what} must be a JSON object`);
    return value;
  }

  function parseJws(token, maxChars = MAX_TOKEN) {
    if (typeof token !== "string" || token.length > maxChars) fail("malformed", "JWS too large or not text");
    const parts = token.split(".");
    if (parts.length !== 3) fail("malformed", "JWS must have three dot-separated parts");
    const header = jsonOf(b64urlDecode(parts[0]), "JWS header");
    const bad = FORBIDDEN.filter((h) => h in header);
    if (bad.length) fail("malformed", `JWS header member not accepted: ${bad.sort()[0]}`);
    if (typeof header.alg !== "string") fail("malformed", "JWS header has no alg");
    if (!["ES256", "EdDSA", "SM2SM3", "PS256"].includes(header.alg)) fail("algorithm_not_allowed", "algorithm is not accepted");
    if (header.kid !== undefined && (typeof header.kid !== "string" || !header.kid.length || header.kid.length > 128))
      fail("malformed", "JWS kid must be a short string");
    return {header, payload: b64urlDecode(parts[1]),
            signingInput: new TextEncoder().encode(`${parts[0]}.${parts[1]}`), signature: b64urlDecode(parts[2])};
  }

  function isHighS(sig) {
    if (sig.length !== 64) return false;
    let s = 0n;
    for (let i = 32; i < 64; i++) s = (s << 8n) | BigInt(sig[i]);
    return s > P256_HALF;
  }

  const keyCache = new Map();
  async function importKey(jwk, alg) {
    const id = `${alg}:${jwk.kty}:${jwk.crv}:${jwk.x}:${jwk.y || ""}`;
    if (!keyCache.has(id)) {
      const pub = alg === "ES256" ? {kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y} : {kty: "OKP", crv: "Ed25519", x: jwk.x};
      if ((alg === "ES256" && (jwk.kty !== "EC" || jwk.crv !== "P-256")) || (alg === "EdDSA" && (jwk.kty !== "OKP" || jwk.crv !== "Ed25519")))
        fail("algorithm_not_allowed", `key does not fit ${alg}`);
      const params = alg === "ES256" ? {name: "ECDSA", namedCurve: "P-256"} : {name: "Ed25519"};
      keyCache.set(id, crypto.subtle.importKey("jwk", pub, params, false, ["verify"]));
    }
    try { return await keyCache.get(id); }
    catch (e) { keyCache.delete(id); fail("code_invalid", `this browser cannot check ${alg} signatures`); }
  }

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  // SM2SM3 as standard/sm2.py: the JWK {kty EC, crv SM2, x, y} of 32-byte coordinates, r‖s of
  // 64 bytes with 1 ≤ r, s < n, e = SM3(Z ‖ signing input) with the one signer id; sm-crypto
  // checks the point is on the curve and does the arithmetic.
  function sm2Verifies(parsed, jwk) {
    if (jwk.kty !== "EC" || jwk.crv !== "SM2") return false;       // as standard/jose.py: signature_invalid
    if (typeof sm2 === "undefined" || typeof sm2.doVerifySignature !== "function")
      fail("code_invalid", "this page cannot check SM2SM3 signatures (sm2.js missing)");
    let x, y;
    try { x = b64urlDecode(jwk.x); y = b64urlDecode(jwk.y); } catch (e) { fail("malformed", "bad SM2 JWK"); }
    if (x.length !== 32 || y.length !== 32) fail("malformed", "bad SM2 JWK");
    const sig = parsed.signature;
    if (sig.length !== 64) return false;
    const r = BigInt("0x" + hex(sig.subarray(0, 32))), s = BigInt("0x" + hex(sig.subarray(32)));
    if (r < 1n || r >= SM2_ORDER || s < 1n || s >= SM2_ORDER) return false;
    try {
      return sm2.doVerifySignature(Array.from(parsed.signingInput), hex(sig), "04" + hex(x) + hex(y),
                                   {hash: true, der: false, userId: SM2_SIGNER_ID}) === true;
    } catch (e) { return false; }
  }

  // Verify under the algorithm the key's owner registered, never the header's choice.
  async function checkSignature(parsed, jwk, allowed) {
    const alg = parsed.header.alg;
    if (!allowed.includes(alg)) fail("algorithm_not_allowed", `algorithm ${alg} is not registered for this key`);
    if (alg === "ES256" && isHighS(parsed.signature)) fail("signature_invalid", "signature is not in low-S form");
    if (alg === "SM2SM3") {
      if (!sm2Verifies(parsed, jwk)) fail("signature_invalid", "signature does not verify");
      return;
    }
    const key = await importKey(jwk, alg);
    const params = alg === "ES256" ? {name: "ECDSA", hash: "SHA-256"} : {name: "Ed25519"};
    let ok = false;
    try { ok = await crypto.subtle.verify(params, key, parsed.signature, parsed.signingInput); } catch (e) { ok = false; }
    if (!ok) fail("signature_invalid", "signature does not verify");
  }

  // A retired national key vouches only for lists it signed before it was retired; a revoked one
  // for none (standard/trustlist.py national_key_usable).
  function nationalKeyRefusal(jwk, iat) {
    if (jwk.status === "revoked") return `national key ${jwk.kid} was revoked`;
    if (jwk.status === "retired" && !Number.isInteger(jwk.retired_at)) return `national key ${jwk.kid} is retired`;
    if (Number.isInteger(jwk.retired_at) && iat > jwk.retired_at) return `national key ${jwk.kid} was retired before this list was issued`;
    return null;
  }
  // A remembered seq further ahead than any acceptable list can be never locks genuine lists out.
  const effectiveMinSeq = (minSeq, now) => (minSeq > now + LIST_SKEW + SEQ_LEAD ? 0 : minSeq);

  // The trust list: pinned national keys → signature, typ, the key's retirement, iat not ahead,
  // a bounded life, seq not far ahead of iat, expiry, seq never lower than seen.
  async function loadTrustList(jws, nationalKeys, now, minSeq = 0) {
    let payload, pinned;
    try {
      const parsed = parseJws(String(jws).trim(), MAX_TRUST_LIST);
      if (parsed.header.typ !== "hc-trust-list+jwt") fail("malformed", "not a trust list");
      pinned = (nationalKeys.keys || []).find((k) => k.kid === parsed.header.kid && k.status !== "revoked");
      if (!pinned) fail("key_unknown", "trust list signed by an unknown national key");
      await checkSignature(parsed, pinned, [pinned.alg || "ES256"].filter((a) => NATIONAL_ALGS.includes(a)));
      payload = jsonOf(parsed.payload, "trust list");
    } catch (e) {
      throw new CodeError("trust_list_invalid", `trust list rejected: ${e.message}`);
    }
    const reject = (why) => { throw new CodeError("trust_list_invalid", `trust list rejected: ${why}`); };
    if (![payload.iat, payload.exp, payload.seq].every(Number.isInteger)) reject("iat, exp and seq must be integers");
    const refused = nationalKeyRefusal(pinned, payload.iat);
    if (refused) reject(refused);
    if (payload.iat > now + LIST_SKEW) reject("issued in the future (iat ahead of this verifier's clock)");
    if (payload.exp - payload.iat > LIST_MAX_TTL) reject(`it would live longer than ${LIST_MAX_TTL / 86400} days`);
    if (payload.seq > payload.iat + SEQ_LEAD) reject("its seq is far ahead of its iat");
    if (payload.exp < now) throw new CodeError("trust_list_invalid", "trust list has expired; refresh it from the gateway");
    const floor = effectiveMinSeq(minSeq, now);
    if (payload.seq < floor)
      throw new CodeError("trust_list_invalid", `trust list seq ${payload.seq} is older than one already accepted (${floor})`);
    const keys = {}, regions = {};
    for (const issuer of payload.issuers || []) {
      regions[issuer.region] = issuer;
      for (const k of issuer.keys || []) keys[k.kid] = {...k, region: issuer.region};
    }
    const grants = {};          // city → {grant} or {error}: each delegation checked once per list
    for (const issuer of payload.issuers || []) {
      if (!isCityEntry(issuer)) continue;
      try { grants[issuer.region] = {grant: await checkDelegation(issuer, keys, regions)}; }
      catch (e) { grants[issuer.region] = {error: e instanceof CodeError ? e : new CodeError("delegation_invalid", "the delegation could not be checked")}; }
    }
    return {payload, seq: payload.seq, exp: payload.exp, keys, regions, grants, revoked: new Set(payload.revoked_jti || [])};
  }

  // --- city delegations (§7.1, standard/delegation.py): the same checks in the same order ----
  const DELEGATION_TYP = "hc-delegation+jwt", DELEGABLE = ["dynamic", "offline", "online"];
  const DELEGATION_MAX_TTL = 90 * 86400, DELEGATION_SKEW = 60, MAX_AREAS = 32;
  const CODE6 = /^[0-9]{6}$/, AREA = /^[0-9]{4}$/;
  const isProvince = (c) => typeof c === "string" && CODE6.test(c) && c.endsWith("0000");
  const isCityOf = (city, parent) => typeof city === "string" && CODE6.test(city) && !city.endsWith("0000") &&
    isProvince(parent) && city.slice(0, 2) === parent.slice(0, 2);
  const isCityEntry = (e) => Boolean(e.parent) || (typeof e.region === "string" && CODE6.test(e.region) && !e.region.endsWith("0000"));

  // A city entry's delegation, verified under its province's keys on the list; once per list.
  async function checkDelegation(entry, keys, regions) {
    const city = String(entry.region).slice(0, 6), parent = String(entry.parent).slice(0, 6);
    const invalid = (why) => fail("delegation_invalid", why);
    if (entry.delegation_status === "withdrawn") fail("delegation_withdrawn", `province ${parent} has withdrawn city ${city}'s delegation`);
    if (!isCityOf(entry.region, entry.parent)) invalid(`region ${city} names no province it belongs to`);
    const parentEntry = regions[entry.parent];
    if (!parentEntry || parentEntry.parent) invalid(`city ${city}'s province ${parent} is not a province on the trust list`);
    if ((entry.delegation_status === undefined ? "active" : entry.delegation_status) !== "active") invalid(`city ${city}'s delegation has an unknown status`);
    if (typeof entry.delegation !== "string") invalid(`city ${city} carries no delegation from province ${parent}`);
    let parsed, key, p;
    try {
      parsed = parseJws(entry.delegation);
      if (parsed.header.typ !== DELEGATION_TYP) invalid(`city ${city}'s delegation is not a delegation (typ)`);
      key = keys[parsed.header.kid || ""];
      if (!key || key.region !== entry.parent) invalid(`city ${city}'s delegation is not signed by a key of province ${parent}`);
      await checkSignature(parsed, key, (parentEntry.algorithms || []).filter((a) => a === key.alg && NATIONAL_ALGS.includes(a)));
      p = jsonOf(parsed.payload, "delegation");
    } catch (e) {
      if (e instanceof CodeError && e.code === "delegation_invalid") throw e;
      invalid(`city ${city}'s delegation does not verify (${e instanceof CodeError ? e.code : "malformed"})`);
    }
    if (p.city !== entry.region || p.parent !== entry.parent) invalid(`the delegation in city ${city}'s entry is for another city or province`);
    if (!Array.isArray(p.areas) || !p.areas.length || p.areas.length > MAX_AREAS ||
        !p.areas.every((a) => typeof a === "string" && AREA.test(a) && a.slice(0, 2) === parent.slice(0, 2)))
      invalid(`city ${city}'s delegation names areas outside province ${parent}`);
    if (!Array.isArray(p.kinds) || !p.kinds.length || !p.kinds.every((k) => DELEGABLE.includes(k)))
      invalid(`city ${city}'s delegation names kinds the standard does not have`);
    if (![p.nbf, p.exp, p.iat].every(Number.isInteger) || !(p.nbf <= p.exp) || p.exp - p.iat > DELEGATION_MAX_TTL)
      invalid(`city ${city}'s delegation has no sound validity`);
    if (key.status === "revoked" || (key.retired_at != null && p.iat > key.retired_at))
      invalid(`city ${city}'s delegation is signed by a revoked or retired key of province ${parent}`);
    return {city: entry.region, areas: p.areas, kinds: p.kinds, nbf: p.nbf, exp: p.exp, iat: p.iat};
  }

  // Does the city's delegation cover this code: kind, issue time and now, the holder's area
  // (holderArea; transcoded codes too: the city writes prov itself, it proves nothing).
  const RESIDENT_MASK = /^[0-9]{4}\*{10}[0-9]{3}[0-9X]$/;
  function holderArea(c) {
    if (typeof c.id_masked === "string" && RESIDENT_MASK.test(c.id_masked)) return c.id_masked.slice(0, 4);
    return c.id_type === "resident" ? "" : null;
  }
  function checkGrant(g, c, fmtName, now) {
    if (!g.kinds.includes(c.kind) || (fmtName === "online" && !g.kinds.includes("online")))
      fail("delegation_invalid", `city ${g.city} is not delegated to issue ${g.kinds.includes(c.kind) ? "online" : c.kind} codes`);
    if (!(g.nbf - DELEGATION_SKEW <= c.iat && c.iat <= g.exp + DELEGATION_SKEW)) fail("delegation_invalid", `this code was issued outside city ${g.city}'s delegation`);
    if (!(g.nbf - DELEGATION_SKEW <= now && now <= g.exp + DELEGATION_SKEW)) fail("delegation_invalid", `city ${g.city}'s delegation is not valid now (refresh the trust list)`);
    if (g.iat > now + DELEGATION_SKEW) fail("delegation_invalid", `city ${g.city}'s delegation is dated after now (its iat)`);
    const area = holderArea(c);
    if (area !== null && !g.areas.includes(area))
      fail("delegation_invalid", `city ${g.city} is not delegated to issue codes for holders from area ${area || "(none named)"}`);
  }

  // --- format tables (adapters/base.py JwsClaimFormat) -------------------------------------
  const TIME = {
    seconds: (v) => { if (!Number.isInteger(v) || v < 0) fail("malformed", "time must be a non-negative integer"); return v; },
    millis: (v) => { if (!Number.isInteger(v) || v < 0) fail("malformed", "time must be a non-negative integer"); return Math.floor(v / 1000); },
    iso8601: (v) => {
      if (typeof v !== "string" || v.length > 40) fail("malformed", "time must be an ISO 8601 string");
      if (!/(Z|[+-]\d\d:\d\d)$/.test(v)) fail("malformed", "time has no UTC offset");
      const t = Date.parse(v);
      if (Number.isNaN(t)) fail("malformed", "time is not ISO 8601");
      return Math.floor(t / 1000);
    },
  };

  function fromNative(fmt, native) {
    const known = new Set(Object.values(fmt.fields));
    const unknown = Object.keys(native).filter((k) => !known.has(k)).sort();
    if (unknown.length) fail("schema_invalid", `${fmt.name} code carries a claim the standard does not define: ${unknown[0].slice(0, 40)}`);
    const claims = {};
    for (const [national, nativeName] of Object.entries(fmt.fields)) {
      if (!(nativeName in native)) {
        if (OPTIONAL.includes(national)) continue;
        fail("malformed", `${fmt.name} code lacks claim ${nativeName}`);
      }
      let value = native[nativeName];
      if (national === "iat" || national === "exp") value = TIME[fmt.time](value);
      else if (fmt.values[national]) {
        const reverse = new Map(Object.entries(fmt.values[national]).map(([k, v]) => [JSON.stringify(v), k]));
        const one = (v) => { const k = reverse.get(JSON.stringify(v)); if (k === undefined) fail("malformed", `unknown value in claim ${nativeName}`); return k; };
        value = Array.isArray(value) ? value.map(one) : one(value);
      }
      claims[national] = value;
    }
    return claims;
  }

  // The core of code-claims.schema.json, with its enumerations and patterns served from the
  // schema itself (formats.json "claims"): a browser never shows a colour for a code the server
  // would refuse as schema_invalid.
  function validateClaims(c, schema) {
    const bad = (why) => fail("schema_invalid", `claims break the standard: ${why}`);
    const defs = schema.$defs, props = schema.properties;
    const inEnum = (def, v) => defs[def].enum.includes(v);
    for (const k of schema.required) if (!(k in c)) bad(`${k} missing`);
    if (c.ver !== props.ver.const) bad("ver");
    if (typeof c.region !== "string" || !new RegExp(defs.region.pattern).test(c.region)) bad("region");
    if (!inEnum("status", c.status)) bad("status");
    if (!props.kind.enum.includes(c.kind)) bad("kind");
    if (!inEnum("id_type", c.id_type)) bad("id_type");
    if (!Number.isInteger(c.iat) || !Number.isInteger(c.exp)) bad("iat/exp");
    if (typeof c.sub !== "string" || !new RegExp(props.sub.pattern).test(c.sub)) bad("sub");
    if (typeof c.jti !== "string" || !new RegExp(props.jti.pattern).test(c.jti)) bad("jti");
    if (!Array.isArray(c.reasons) || c.reasons.length > props.reasons.maxItems ||
        new Set(c.reasons).size !== c.reasons.length || !c.reasons.every((r) => inEnum("reason", r))) bad("reasons");
    if (typeof c.name_masked !== "string" || typeof c.id_masked !== "string" || !c.id_masked.includes("*")) bad("holder");
    for (const k of Object.keys(c)) if (!(k in props)) bad(`unknown claim ${k}`);
    return c;
  }

  async function verifyCode(fmt, text, trust, now, schema) {
    const parsed = parseJws(text.slice(fmt.prefix.length));
    if (parsed.header.typ !== fmt.typ) fail("malformed", `${fmt.name} codes have JWS typ ${fmt.typ}`);
    if (!parsed.header.kid) fail("malformed", "code has no key id");
    const key = trust.keys[parsed.header.kid];
    if (!key) fail("key_unknown", "code was signed by a key that is not on the national trust list");
    const registered = ((trust.regions[key.region] || {}).algorithms || []).filter((a) => a === key.alg && NATIONAL_ALGS.includes(a));
    await checkSignature(parsed, key, registered);
    const claims = validateClaims(fromNative(fmt, jsonOf(parsed.payload, "payload")), schema);
    if (claims.region !== key.region) fail("issuer_mismatch", "code claims a region other than its signer's");
    if (fmt.name !== "national" && (trust.regions[key.region] || {}).format !== fmt.name)
      fail("issuer_mismatch", `region ${key.region} does not issue ${fmt.name} codes`);
    if (key.status === "revoked") fail("key_revoked", `signing key ${key.kid} was revoked`);
    if (key.retired_at != null && claims.iat > key.retired_at) fail("key_revoked", `signing key ${key.kid} was retired before this code was issued`);
    if (isCityEntry(trust.regions[key.region] || {})) {
      const held = (trust.grants || {})[key.region];
      if (!held) fail("delegation_invalid", `city ${key.region}'s delegation was not checked`);
      if (held.error) fail(held.error.code, held.error.message);
      checkGrant(held.grant, claims, fmt.name, now);
    }
    const registeredLife = ((trust.regions[key.region] || {}).lifetimes || {})[claims.kind];
    const cap = Number.isInteger(registeredLife) ? Math.min(MAX_LIFETIME[claims.kind], registeredLife) : MAX_LIFETIME[claims.kind];
    if (claims.exp - claims.iat > cap) fail("lifetime_exceeded", `a ${claims.kind} code may live at most ${cap} s`);
    if (now > claims.exp + SKEW) fail("expired", "code expired");
    if (claims.iat > now + SKEW) fail("not_yet_valid", "code is not valid yet");
    if (trust.revoked.has(claims.jti)) fail("code_revoked", "this code has been withdrawn by its issuer");
    return claims;
  }

  const rfc3339 = (ts) => new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

  // Any QR text → a verdict of the same shape as POST /v1/verify; never throws.
  async function verify(text, trust, tables, now) {
    const formats = tables.formats;
    let fmt = null;
    try {
      if (typeof text !== "string") fail("malformed", "payload must be text");
      if (text.length > MAX_PAYLOAD) fail("payload_too_large", `payload longer than ${MAX_PAYLOAD} characters`);
      text = text.trim().replace(/^\ufeff/, "");
      if (!text) fail("payload_empty", "payload is empty");
      fmt = formats.find((f) => text.startsWith(f.prefix));
      if (!fmt) {
        if (/^(HC1:|shc:\/|https?:\/\/)/i.test(text)) fail("offline_unsupported", "foreign certificates and online codes are checked online only");
        fail("format_unknown", "this is not a health code format the gateway knows");
      }
      const c = await verifyCode(fmt, text, trust, now, tables.claims);
      const details = {};
      if (c.dep) details.dependent_of = {holder_name_masked: c.dep.holder_name_masked, relation: c.dep.relation};
      if (c.prov) details.transcoded_from = {...c.prov};
      const entry = trust.regions[c.region] || {};        // a city's code names city and province, as online
      const issuer = entry.parent ? {region: c.region, name: entry.name ?? null, parent: entry.parent,
                                     parent_name: (trust.regions[entry.parent] || {}).name ?? null} : null;
      return {valid: true, status: c.status, region: c.region, ...(issuer ? {issuer} : {}), format: fmt.name,
              holder: {name_masked: c.name_masked, id_masked: c.id_masked}, expires_at: rfc3339(c.exp),
              issued_at: rfc3339(c.iat), kind: c.kind, reasons: [...c.reasons], code_id: c.jti, errors: [],
              ...(Object.keys(details).length ? {details} : {}), offline: true};
    } catch (e) {
      const code = e instanceof CodeError ? e.code : "malformed";
      const message = e instanceof CodeError ? e.message : "the code could not be decoded";
      return {valid: false, status: null, region: null, format: fmt ? fmt.name : null, holder: null,
              expires_at: null, issued_at: null, kind: null, reasons: [], code_id: null,
              errors: [{code, message}], offline: true};
    }
  }

  return {verify, loadTrustList, parseJws, b64urlDecode, CodeError};
})();
if (typeof module !== "undefined") module.exports = HCOffline;
