"""EU Digital COVID Certificate (https://ec.europa.eu/health/ehealth/covid-19_en): read-only
foreign format.

QR text = ``HC1:`` + Base45( zlib( COSE_Sign1( CWT ) ) ).  The CWT carries ``iss`` (country),
``iat``, ``exp`` and claim -260 ``{1: <DCC JSON>}`` with vaccination (``v``), test (``t``) or
recovery (``r``) entries of one type (one from schema 1.3 on; 1.0–1.2 may list several).  The signer is a Document Signer Certificate (X.509, ES256 —
ECDSA-SHA256 on its EC key of any curve, as the EU reference verifier — or PS256) found by ``kid`` = the first 8 bytes of SHA-256 over its DER; its extended key usage may
restrict it to some certificate types.

Each stage fails with its own error code, so a checkpoint (and the dgc-testdata agreement test)
can tell a broken print from a forgery:

=====================  =====================================================================
stage                  error code
=====================  =====================================================================
context prefix         ``context_unsupported`` (``HC2:``…); anything else is not detected
Base45                 ``base45_invalid``
zlib                   ``compression_invalid``
COSE_Sign1 structure   ``cose_invalid``
signer lookup          ``key_unknown`` (kid not a trusted signer), ``algorithm_not_allowed``
signature              ``signature_invalid``
CWT / health claim     ``cwt_invalid``
validity (iat, exp)    ``not_yet_valid``, ``expired``
signer validity        ``certificate_invalid`` (the signer certificate is outside its dates)
DCC JSON schema        ``schema_invalid`` (the schema of the declared ``ver``: :mod:`.dcc_schema`)
key usage              ``key_usage_mismatch``
=====================  =====================================================================

Stages, one module each: :mod:`.decode`, :mod:`.signers`, :mod:`.certificate`, :mod:`.schema`;
the adapter object (``make``/``ADAPTER``) in :mod:`.adapter` runs them in order.  The
certificate's events become a colour through :mod:`.foreign_rules`.  See docs/formats/eu-dcc.md.
"""
from __future__ import annotations

from adapters.eu_dcc.decode import (  # noqa: F401 — the package's API, one module a stage
    NAME, CONTEXT, MAX_TEXT_CHARS, MAX_INFLATED_BYTES, KID_BYTES, MAX_ISSUER_CHARS, COSE_SIGN1_TAG,
    CWT_TAG, HEADER_ALG, HEADER_KID, CWT_ISS, CWT_EXP, CWT_IAT, CWT_HCERT, COSE_ALGORITHMS,
    KEY_USAGE_OIDS, ENTRY_NAMES, TEST_NOT_DETECTED, TEST_DETECTED, looks_like_dcc,
    unprefix, base45_decode, decompress, compress, CoseSign1, cose_sign1, encode_cose,
    qr_text,)
from adapters.eu_dcc.signers import (  # noqa: F401 — the package's API, one module a stage
    SignerCertificate, kid_of, EKU_OID, _der_items, eku_oids_lenient, key_usage_types,
    spki_key_lenient, signer_certificate, signers_by_kid, signers_for,
    cose_key_fits, cose_verify, verify_signature,)
from adapters.eu_dcc.certificate import (  # noqa: F401 — the package's API, one module a stage
    Cwt, read_cwt, validate_dcc, primary_entry,
    check_certificate_validity, check_key_usage, event_of, holder_name, name_parts, transliterated_name,
    country, to_claims, subject_id,)
from adapters.eu_dcc.adapter import (  # noqa: F401 — the package's API, one module a stage
    DccAdapter, make, ADAPTER,)
