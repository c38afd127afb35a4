"""``healthcode codes …``: a person's outstanding codes, and withdrawing one of them (a lost
printed card) — for the region's issuer staff; audited as the issuer of that region."""
from __future__ import annotations

import click

from gateway.cli.common import CommandGroup, emit as _emit, service
from issuers import ID_TYPES


def _issuer_cli(region: str) -> dict:
    return {"role": "issuer", "id": f"issuer-{region}-cli", "region": region}


def _person(id_number: str, id_type: str):
    from issuers import make_person
    return make_person(id_number, None, id_type, name_required=False)


_region = click.option("--region", required=True, help="GB/T 2260 code of the region whose codes these are")
_id_number = click.option("--id-number", required=True, help="the holder's ID document number")
_id_type = click.option("--id-type", type=click.Choice(ID_TYPES), default="resident", show_default=True,
                        help="the kind of ID document")


@click.group(cls=CommandGroup)
def codes():
    """A person's outstanding codes: list them, withdraw one (a lost printed card)."""


@codes.command("list")
@_region
@_id_number
@_id_type
def list_codes(region, id_number, id_type):
    """Print the person's codes that still verify, newest first (ids, kinds, colours, times)."""
    _emit(service().issuing.outstanding_codes(region, _person(id_number, id_type), _issuer_cli(region)))


@codes.command("withdraw")
@_region
@_id_number
@_id_type
@click.option("--code-id", required=True, help="the code to withdraw (from `healthcode codes list`)")
@click.option("--reason", default="", help="why, for the audit log (e.g. card lost)")
def withdraw(region, id_number, id_type, code_id, reason):
    """Withdraw one of the person's codes: refused online at once, offline after the next trust
    list; the person's other codes keep working."""
    _emit(service().issuing.withdraw_code(region, _person(id_number, id_type), code_id,
                                          _issuer_cli(region), reason))
