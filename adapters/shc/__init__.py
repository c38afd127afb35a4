"""SMART Health Cards (https://spec.smarthealth.cards): read-only foreign format.

A card is a compact JWS (``zip: DEF``, ES256, ``kid`` = RFC 7638 thumbprint of the issuer key)
whose payload is raw-DEFLATEd JSON carrying a FHIR bundle.  It reaches us as

* numeric QR text ``shc:/<digits>`` (two digits → one base64url character, value + 45);
* chunked QR text ``shc:/<i>/<n>/<digits>``: all *n* chunks in one payload, separated by
  whitespace/newlines, in any order (``group_chunks`` joins the chunks found in one photo with
  ``"\\n"``; ``Verifier.verify_image_codes`` verifies each code of the photo);
* a bare compact JWS;
* a ``.smart-health-card`` file: ``{"verifiableCredential": [jws, ...]}``.  Every credential
  must verify; the verdict describes the first (a file normally holds one card per person, and
  a checkpoint answers for one traveller at a time).

Stages, one module each: :mod:`.numeric`, :mod:`.card`, :mod:`.fhir`; the adapter object
(``make``/``ADAPTER``) in :mod:`.adapter` runs them in order.  The FHIR events become a colour through :mod:`.foreign_rules`.  See docs/formats/shc.md.
"""
from __future__ import annotations

from adapters.foreign_rules import DEFAULT_VERDICT_TTL  # noqa: F401
from adapters.shc.numeric import (  # noqa: F401 — the package's API, one module a stage
    NAME, QR_PREFIX, HEALTH_CARD_TYPE, COVID_TYPE, ALG, MAX_TEXT_CHARS, MAX_CHUNKS,
    MAX_CREDENTIALS, MAX_INFLATED_BYTES, MAX_ENTRIES, MAX_CODINGS, MAX_NAME_CHARS, MAX_ISS_CHARS,
    MAX_TIMESTAMP, DEFAULT_REGION, CVX, SNOMED, LOINC, COVID_CVX, SINGLE_DOSE_CVX, COVID_LOINC,
    NEGATIVE_RESULTS, POSITIVE_RESULTS, FINAL_OBSERVATION, 
    numeric_to_jws, jws_to_numeric, qr_texts, jws_from_qr, group_chunks,)
from adapters.shc.card import (  # noqa: F401 — the package's API, one module a stage
    
    credentials_from_file, credentials, looks_like_card_jws, detect, inflate, deflate,
    parse_card_jws, Card, read_payload, encode_card, keys_by_thumbprint, verify_signature,)
from adapters.shc.fhir import (  # noqa: F401 — the package's API, one module a stage
    fhir_time, resources, holder, name_parts, Facts, events_from_bundle, subject_id, code_id,
    to_claims,)
from adapters.shc.adapter import (  # noqa: F401 — the package's API, one module a stage
    ShcAdapter, make, ADAPTER,)
