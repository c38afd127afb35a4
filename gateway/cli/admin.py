"""The data manager's and auditor's chores: ``trust-list``, ``keys``, ``tokens``, ``credentials``,
``purge`` and ``audit``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.cli.common import DATA_MANAGER_CLI, CommandGroup, OutputPath, emit, service
from standard.errors import BadRequest, NotFound

ROLES = ["kiosk", "helper", "operator", "data_manager", "auditor"]


@click.command("trust-list")
@click.option("--out", type=OutputPath(), help="write the signed trust list here")
@click.option("--national-keys", "keys_out", type=OutputPath(),
              help="write the national public keys (to pin in offline verifiers) here")
@click.option("--revocations", "revocations_out", type=OutputPath(),
              help="write the revocation file the list names by SHA-256 here (foreign revocation lists)")
def trust_list_cmd(out, keys_out, revocations_out):
    """Export the signed trust list, the national keys and the revocation file for offline verifiers."""
    svc = service()
    token = svc.trust.trust_list_jws()
    held = svc.trust.revocation_file_held()
    if revocations_out:
        if held is None:
            raise NotFound("the trust list names no revocation file (no foreign revocation lists held)")
        Path(revocations_out).write_bytes(held.data)
    if out:
        Path(out).write_text(token + "\n")
    if keys_out:
        Path(keys_out).write_text(json.dumps(svc.trust.national_jwks(), indent=1))
    if not out:
        click.echo(token)


@click.group(cls=CommandGroup)
def keys():
    """Signing keys of the regions and the nation: list the public keys, rotate a key, revoke a
    compromised one, and rotate the key that seals personal data at rest."""


@keys.command("list")
def keys_list():
    """Print the public keys (JWKS) of 'national' and of each region."""
    svc = service()
    owners = ["national", *svc.settings.region_codes()]
    emit({owner: svc.keystore.public_jwks(owner) for owner in owners})


@keys.command("rotate")
@click.argument("owner")
def keys_rotate(owner):
    """Make a new active key for OWNER (a region code or 'national')."""
    emit({"owner": owner, "kid": service().trust.rotate_key(owner)})


@keys.command("revoke")
@click.argument("owner")
@click.argument("kid")
@click.option("--reason", default="", help="why (compromise, loss); kept in the audit log")
def keys_revoke(owner, kid, reason):
    """Revoke OWNER's key KID (compromise): every code it signed is refused from now on."""
    emit(service().trust.revoke_key(owner, kid, DATA_MANAGER_CLI, reason))


@keys.command("rotate-seal")
def keys_rotate_seal():
    """New AES-GCM key for personal data at rest; old records still open with their own key."""
    svc = service()
    kid = svc.sealer.rotate()
    svc.audit.record(DATA_MANAGER_CLI, "seal_key_rotate", None, kid=kid)
    emit({"seal_kid": kid})


@click.command()
def tokens():
    """Print each region's issuer bearer token (give each region only its own)."""
    emit(service().administration.issuer_tokens())


@click.group(cls=CommandGroup)
def credentials():
    """Credentials for kiosks, helpers, operators, data managers and auditors."""


@credentials.command("add")
@click.option("--role", required=True, type=click.Choice(ROLES), help="what the credential may do")
@click.option("--id", "principal_id", required=True, help="who: e.g. kiosk-guangzhou-001, helper-wang")
@click.option("--kiosk-id", help="kiosks: the device id its requests are limited and audited as (default: --id)")
def credentials_add(role, principal_id, kiosk_id):
    """Make a credential; its token is printed once and stored only as a hash.  Adding an id
    that exists replaces its token (the old one stops working)."""
    token = service().administration.add_credential(role, principal_id, DATA_MANAGER_CLI, kiosk_id)
    emit({"role": role, "id": principal_id, **({"kiosk_id": kiosk_id} if kiosk_id else {}), "token": token})


@credentials.command("list")
def credentials_list():
    """Who holds a credential (role, id, kiosk_id, created) — never a token."""
    emit(service().credentials.list())


@credentials.command("revoke")
@click.argument("principal_id")
def credentials_revoke(principal_id):
    """Withdraw PRINCIPAL_ID's credential at once."""
    emit({"revoked": service().administration.revoke_credential(principal_id, DATA_MANAGER_CLI)})


@click.command()
def purge():
    """Delete data older than the retention window (30 days by default)."""
    emit(service().administration.purge(actor=DATA_MANAGER_CLI))


@click.group(cls=CommandGroup)
def audit():
    """The audit log (auditor): check its hash chain, show its entries."""


@audit.command("verify")
@click.option("--checkpoint", help="SEQ:HASH printed by an earlier verification; the log must still hold it")
def audit_verify(checkpoint):
    """Check the hash chain; exit 1 if any entry was altered, removed or reordered, or the log
    no longer holds the checkpoint (cut off or rewritten)."""
    from store.audit import parse_checkpoint
    try:
        mark = parse_checkpoint(checkpoint) if checkpoint else None
    except ValueError as exc:
        raise BadRequest(f"--checkpoint: {exc}") from None
    result = service().audit.verify(mark)
    emit(result)
    sys.exit(0 if result["intact"] else 1)


@audit.command("show")
@click.option("--after", default=0, type=click.IntRange(0, 2**63 - 1), show_default=True,
              help="show entries after this sequence number")
@click.option("--limit", default=100, type=click.IntRange(1, 1000), show_default=True,
              help="at most this many entries")
def audit_show(after, limit):
    """Print audit entries as JSON Lines, oldest first."""
    for entry in service().audit.entries(after, limit):
        emit(entry)
