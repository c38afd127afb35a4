"""``healthcode codes …``: a person's outstanding codes, and withdrawing one of them (a lost
printed card) — for the region's issuer staff; audited as the issuer of that region."""
from __future__ import annotations

import json
import sys

import click

from issuers import ID_TYPES
from standard.errors import HealthCodeError


def _emit(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _fail(exc: HealthCodeError):
    click.echo(f"error: {exc.code}: {exc.message}", err=True)
    sys.exit(2)


def _issuer_cli(region: str) -> dict:
    return {"role": "issuer", "id": f"issuer-{region}-cli", "region": region}


def _person(id_number: str, id_type: str):
    from issuers import make_person
    return make_person(id_number, None, id_type, name_required=False)


_region = click.option("--region", required=True, help="GB/T 2260 code of the region whose codes these are")
_id_number = click.option("--id-number", required=True, help="the holder's ID document number")
_id_type = click.option("--id-type", type=click.Choice(ID_TYPES), default="resident", show_default=True,
                        help="the kind of ID document")


@click.group()
def codes():
    """A person's outstanding codes: list them, withdraw one (a lost printed card)."""


@codes.command("list")
@_region
@_id_number
@_id_type
def list_codes(region, id_number, id_type):
    """Print the person's codes that still verify, newest first (ids, kinds, colours, times)."""
    from gateway.services import Services
    try:
        _emit(Services().issuing.outstanding_codes(region, _person(id_number, id_type), _issuer_cli(region)))
    except HealthCodeError as exc:
        _fail(exc)


@codes.command("withdraw")
@_region
@_id_number
@_id_type
@click.option("--code-id", required=True, help="the code to withdraw (from `healthcode codes list`)")
@click.option("--reason", default="", help="why, for the audit log (e.g. card lost)")
def withdraw(region, id_number, id_type, code_id, reason):
    """Withdraw one of the person's codes: refused online at once, offline after the next trust
    list; the person's other codes keep working."""
    from gateway.services import Services
    try:
        _emit(Services().issuing.withdraw_code(region, _person(id_number, id_type), code_id,
                                               _issuer_cli(region), reason))
    except HealthCodeError as exc:
        _fail(exc)
