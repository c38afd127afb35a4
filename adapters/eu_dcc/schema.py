"""EU DCC payload schema by version: check a certificate against the eHealth Network schema of the
version it declares in ``ver`` (the release files ship in ``adapters/eu_dcc/schemas/<ver>/``,
Apache-2.0, unchanged), read the way real verifier apps read it.

Why not simply the newest schema: 1.3 allows one entry per certificate (``maxItems 1``) and 80
characters per text, while 1.0–1.2 certificates with two vaccination entries and 50-character
limits are still in wallets, and every EU verifier reads them under their own schema.

Why not the release schema verbatim: verifier apps enforce a certificate's *structure*, not the
issuer-side content guidance.  This module derives a *verifier profile* of each release schema
(:func:`verifier_profile`, a pure function) that drops

* ``format`` — an annotation in JSON Schema 2020-12 (the schemas' own dialect); dates are read by
  the rules, and an unreadable date never makes anyone green;
* ``maxLength`` — a Hungarian test centre's 90-character name or a long issuer name is no
  forgery; the inflate cap (64 kB) already bounds the input;
* the ``country_vt`` pattern — older Dutch test certificates carry an empty ``co``; the region
  comes from the CWT issuer;
* the version's own ``dob`` pattern, for one that admits what any version admits (``YYYY``,
  ``YYYY-MM``, ``YYYY-MM-DD``, empty) with an optional time part, which early issuers wrote
  (``1978-01-26T00:00:00``); the date of birth only feeds the pseudonymous subject id.

Everything else is enforced: types, required members, at least one entry, dose bounds, the
transliterated-name alphabet, ``maxItems`` where the version has it.  One rule holds for every version (the regulation's, which the dgc-testdata file
``common/DGC2`` checks on a 1.2.1 certificate): exactly one of ``v``, ``t``, ``r``.

Version choice (:func:`schema_version`): the declared version when shipped; an unknown patch of
a known minor → that minor's newest patch; a newer version than any shipped (1.4.0, 2.0.0) →
the newest shipped (the EU apps read such a code and leave the verdict to the rules); an older
or unparseable one → the oldest; a missing ``ver`` → the newest, which requires ``ver`` and so
refuses the certificate, as every version of the schema does.
"""
from __future__ import annotations

from typing import Any, Callable
import copy
import json
import re
from functools import lru_cache
from pathlib import Path

import fastjsonschema

import standard
from standard.errors import SchemaInvalid

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_FILE = "combined-schema.json"
ENTRY_TYPES = ("v", "t", "r")
DROPPED_KEYWORDS = ("format", "maxLength")
UNCHECKED_PATTERNS = ("country_vt",)            # $defs whose pattern is not enforced
DOB_PATTERN = r"^((19|20)[0-9]{2}(-[0-9]{2}){0,2})?(T[0-9:.]+(Z|[+-][0-9:]+)?)?$"

_VERSION_RE = re.compile(r"^\s*(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?")


def _parse(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@lru_cache(maxsize=1)
def shipped_versions() -> tuple[str, ...]:
    """The release schemas in the package, oldest first."""
    found = [p.parent.name for p in SCHEMA_DIR.glob(f"*/{SCHEMA_FILE}")]
    return tuple(sorted(found, key=_parse))


def schema_version(declared: object) -> str:
    """The shipped schema a certificate declaring ``declared`` is checked against (see above)."""
    versions = shipped_versions()
    match = _VERSION_RE.match(declared) if isinstance(declared, str) else None
    if match is None:
        return versions[-1] if declared is None else versions[0]
    major, minor, patch = int(match[1]), int(match[2]), int(match[3] or 0)
    wanted = (major, minor, patch)
    parsed = [_parse(v) for v in versions]
    if wanted in parsed:
        return versions[parsed.index(wanted)]
    same_minor = [v for v, p in zip(versions, parsed) if p[:2] == (major, minor)]
    if same_minor:
        return same_minor[-1]
    return versions[-1] if wanted > parsed[-1] else versions[0] if wanted < parsed[0] else \
        [v for v, p in zip(versions, parsed) if p < wanted][-1]


def release_schema(version: str) -> dict:
    return json.loads((SCHEMA_DIR / version / SCHEMA_FILE).read_text(encoding="utf-8"))


def verifier_profile(schema: dict) -> dict:
    """The release schema without the checks verifier apps do not make (module docstring)."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in DROPPED_KEYWORDS}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    profile = strip(copy.deepcopy(schema))
    for name in UNCHECKED_PATTERNS:
        profile.get("$defs", {}).get(name, {}).pop("pattern", None)
    dob = profile.get("properties", {}).get("dob")
    if isinstance(dob, dict) and "pattern" in dob:
        dob["pattern"] = DOB_PATTERN
    profile["$schema"] = "http://json-schema.org/draft-07/schema#"   # what fastjsonschema speaks
    return profile


@lru_cache(maxsize=256)
def _declared_version(declared: str) -> str:
    """``schema_version`` of a declared text, remembered: a trust list sees a handful of them."""
    return schema_version(declared)


@lru_cache(maxsize=16)
def _validator(version: str) -> Callable[[Any], Any]:
    return standard.compiled_validator(verifier_profile(release_schema(version)))


def validate(dcc: dict) -> tuple[str, str]:
    """(entry type, schema version used); SchemaInvalid names the version and the failed rule."""
    declared = dcc.get("ver")
    version = _declared_version(declared) if type(declared) is str else schema_version(declared)
    try:
        _validator(version)(dcc)
    except fastjsonschema.JsonSchemaException as exc:
        raise SchemaInvalid(f"EU DCC does not follow schema {version}: {str(exc)[:160]}") from None
    present = [kind for kind in ENTRY_TYPES if kind in dcc]
    if len(present) != 1:
        raise SchemaInvalid("EU DCC must hold exactly one of vaccination (v), test (t) or "
                            f"recovery (r); it holds {len(present)}")
    return present[0], version
