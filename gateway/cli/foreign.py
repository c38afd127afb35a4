"""Foreign certificates: ``anchors`` (their signers), ``revoke-foreign`` and
``revocation-lists``; all of it rides in the signed trust list."""
from __future__ import annotations

import json

import click

from gateway.anchors import parse_anchor, validity_warnings
from gateway.cli.common import DATA_MANAGER_CLI, CommandGroup, InputPath, anchors_in, emit, read_bytes, \
    service
from standard.errors import FileInvalid

MAX_REVOCATION_FILE = 64_000_000


@click.group(cls=CommandGroup)
def anchors():
    """Foreign trust anchors (EU DCC signer certificates, SMART Health Card issuer keys)."""


@anchors.command("add")
@click.argument("files", nargs=-1, required=True, type=InputPath())
@click.option("--iss", help="trust JWKs only for this SMART Health Card issuer URL")
def anchors_add(files, iss):
    """Trust the certificates / keys in FILES (PEM, DER, JWK or JWKS); they ride in the trust list."""
    values = anchors_in(files, "anchor file", iss)
    svc = service()
    warnings = [w for v in values for w in validity_warnings(parse_anchor(v, iss), svc.now())]
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    emit({"added": svc.trust.add_anchors(values, DATA_MANAGER_CLI, iss), "warnings": warnings})


@anchors.command("list")
def anchors_list():
    """Print the trusted anchors as JSON: id and type, and a certificate's subject and expiry or a key's kid."""
    emit(service().trust.list_anchors())


@anchors.command("remove")
@click.argument("anchor_id")
def anchors_remove(anchor_id):
    """Stop trusting the anchor ANCHOR_ID (as `anchors list` shows it); the next trust list drops it."""
    service().trust.remove_anchor(anchor_id, DATA_MANAGER_CLI)
    emit({"removed": anchor_id})


@click.command("revoke-foreign")
@click.option("--format", "fmt", default="eu_dcc", show_default=True,
              help="the certificates' format (eu_dcc: the identifiers are UVCIs)")
@click.option("--reason", default="", help="why; kept in the audit log")
@click.argument("certificate_ids", nargs=-1, required=True)
def revoke_foreign(fmt, reason, certificate_ids):
    """Withdraw foreign certificates by their identifiers (EU DCC: UVCI); prints their code ids."""
    emit({"revoked": service().trust.revoke_foreign(fmt, list(certificate_ids), DATA_MANAGER_CLI, reason)})


@click.group("revocation-lists", cls=CommandGroup)
def revocation_lists_group():
    """Foreign revocation lists (EU DCC hash batches, SMART Health Card rid lists); they ride in
    the trust list for offline verifiers."""


@revocation_lists_group.command("import")
@click.option("--format", "fmt", required=True, type=click.Choice(["eu_dcc", "shc"]),
              help="eu_dcc: EU gateway revocation batches; shc: an issuer's rid list")
@click.option("--iss", help="shc: the issuer URL the rid list belongs to")
@click.argument("file", type=InputPath())
def revocation_lists_import(fmt, iss, file):
    """Import FILE: an EU gateway revocation batch (or a JSON list of batches), or an issuer's
    ``.well-known/crl/<kid>.json``."""
    raw = read_bytes(file, "revocation list", MAX_REVOCATION_FILE)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise FileInvalid(f"revocation list {file}: not JSON") from None
    emit(service().trust.import_revocation_list(fmt, document, DATA_MANAGER_CLI, iss))


@revocation_lists_group.command("list")
def revocation_lists_list():
    """The lists held: EU DCC batches by kid and hash type, SHC rid lists by issuer and kid."""
    emit(service().trust.revocation_lists())


@revocation_lists_group.command("remove")
@click.option("--format", "fmt", required=True, type=click.Choice(["eu_dcc", "shc"]),
              help="eu_dcc: EU gateway revocation batches; shc: an issuer's rid list")
@click.option("--kid", required=True, help="eu_dcc: the DSC kid (base64); shc: the issuer key's thumbprint")
@click.option("--hash-type", type=click.Choice(["UCI", "COUNTRYCODEUCI", "SIGNATURE"]),
              help="eu_dcc: only this hash type's batch (default: every batch of the kid)")
@click.option("--iss", help="shc: the issuer URL")
def revocation_lists_remove(fmt, kid, hash_type, iss):
    """Remove a held list (audited); it leaves the revocation file at once."""
    emit(service().trust.remove_revocation_list(fmt, {"kid": kid, "hash_type": hash_type, "iss": iss},
                                                DATA_MANAGER_CLI))
