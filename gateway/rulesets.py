"""Imported EU DCC business rules and value sets: ``$HEALTHCODE_DATA/dcc-rules.json``.

The data manager imports a country of arrival's rule set (``healthcode rules import --country
DE``, ``POST /v1/admin/dcc-rules``) and the value sets the rules read (``healthcode rules
value-sets``, ``POST /v1/admin/dcc-value-sets``).  Importing a country replaces its whole rule
set, as the EU gateway publishes a country's rules as one list.  The file is the trust list's
``dcc_rules`` section as is (standard/trustlist.py), so offline verifiers get the same rules.
Parsing is pure (adapters/eu_dcc/rules.py); this class is the only part that touches disk.
"""
from __future__ import annotations


from adapters.eu_dcc import rules as dccrules
from toolkit import filelock
from standard.errors import BadRequest, NotFound

MAX_COUNTRIES = 60
MAX_FILE_BYTES = 1_000_000          # one rule-set or value-set file on the command line


class RuleFile(filelock.JsonFile):
    """``{"rules": {country: [rule]}, "value_sets": {id: [codes]}}`` (empty when none)."""

    filename = "dcc-rules.json"
    marks = filelock.TRUST_INPUTS_CHANGED     # the trust list is made of it

    def import_rules(self, country: str, value) -> list[dict]:
        rules = dccrules.parse_rule_set(value, country)
        with self.changing():          # other workers, the CLI
            current = self.load()
            by_country = dict(current.get("rules") or {})
            if country not in by_country and len(by_country) >= MAX_COUNTRIES:
                raise BadRequest(f"rules of at most {MAX_COUNTRIES} countries")
            by_country[country] = rules
            self._write({**current, "rules": by_country})
        return rules

    def remove_country(self, country: str) -> None:
        with self.changing():          # other workers, the CLI
            current = self.load()
            by_country = dict(current.get("rules") or {})
            if by_country.pop(country, None) is None:
                raise NotFound(f"no business rules imported for {str(country)[:8]!r}")
            self._write({**current, "rules": by_country})

    def import_value_sets(self, documents) -> dict:
        """Add or replace value sets by id; the others stay."""
        value_sets = dccrules.parse_value_sets(documents)
        with self.changing():          # other workers, the CLI
            current = self.load()
            merged = {**(current.get("value_sets") or {}), **value_sets}
            if len(merged) > dccrules.MAX_VALUE_SETS:
                raise BadRequest(f"at most {dccrules.MAX_VALUE_SETS} value sets")
            self._write({**current, "value_sets": merged})
        return value_sets

    def summary(self) -> dict:
        """What an operator needs to see: per country the rules (id, version, type, validity)."""
        current = self.load()
        return {
            "countries": {
                country: [{"identifier": r["Identifier"], "version": r["Version"], "type": r["Type"],
                           "certificate_type": r["CertificateType"], "valid_from": r["ValidFrom"],
                           "valid_to": r["ValidTo"], "description": dccrules.description(r)}
                          for r in rules]
                for country, rules in sorted((current.get("rules") or {}).items())},
            "value_sets": {k: len(v) for k, v in sorted((current.get("value_sets") or {}).items())},
        }
