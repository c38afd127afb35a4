"""Codes: ``regions``, ``issue``, ``verify`` and ``transcode``.

Exit status of ``verify``: 0 the code is valid, 1 it is not, 2 the command was used wrongly or
a file it names cannot be used.  ``transcode``: 0 done, 1 the source code does not verify
(``error: transcode_refused: …``), 2 as for ``verify``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

import standard
from adapters import qr
from gateway.cli.common import OPERATOR_CLI, InputPath, OutputPath, anchors_in, emit, error_line, json_file, \
    read_bytes, read_text, service
from issuers import ID_TYPES
from standard.errors import BadRequest, HealthCodeError

MAX_REVOCATION_FILE = 64_000_000



@click.command()
def regions():
    """Print the configured regions as JSON."""
    from config.settings import load_settings
    emit([r.as_public() for r in load_settings().regions])


@click.command()
@click.option("--region", required=True, help="GB/T 2260 code of the issuing region, e.g. 440000")
@click.option("--id-number", required=True, help="the person's ID number (or document number, with --id-type)")
@click.option("--name", required=True, help="the person's name as on the document")
@click.option("--id-type", type=click.Choice(ID_TYPES), default="resident", show_default=True,
              help="the kind of document --id-number is from")
@click.option("--status", type=click.Choice(["green", "yellow", "red"]),
              help="override the colour the region's rules decide (an issuer's staff may)")
@click.option("--kind", type=click.Choice(["dynamic", "offline"]), default="dynamic", show_default=True,
              help="dynamic: a phone's short-lived code; offline: a printed 7-day code")
@click.option("--facts", help="health facts as JSON (docs/standard.md §5)")
@click.option("--format", "fmt", type=click.Choice(["native", "national", "online"]), default="native",
              show_default=True, help="online: the QR is the region's status URL + a code id (§4.4)")
@click.option("--png", type=OutputPath(), help="also write the QR image here")
@click.option("--json", "as_json", is_flag=True, help="print {qr_text, status, reasons, kind, expires_at, ...}")
def issue(region, id_number, name, id_type, status, kind, facts, fmt, png, as_json):
    """Issue a code; print its QR text (status and reasons on stderr, so staff see the colour
    the rules decided), or everything as JSON with --json."""
    from issuers import make_person
    from toolkit import jsonin
    try:
        facts_obj = jsonin.loads(facts) if facts else None          # depth-capped
    except BadRequest as exc:
        raise BadRequest(f"--facts is not valid JSON: {exc.message}") from None
    issued = service().issuing.issue(region, make_person(id_number, name, id_type), facts=facts_obj, status=status,
                             kind=kind, fmt=None if fmt == "native" else fmt)
    if png:
        Path(png).write_bytes(qr.render_png(issued.qr_text))
    c = issued.claims
    if as_json:
        emit({"qr_text": issued.qr_text, "status": c["status"], "reasons": list(c["reasons"]),
              "region": c["region"], "format": issued.format, "kind": c["kind"],
              "holder": {"name_masked": c["name_masked"], "id_masked": c["id_masked"]},
              "code_id": c["jti"], "expires_at": standard.rfc3339(c["exp"])})
        return
    click.echo(issued.qr_text)
    click.echo(f"{c['status']}: {', '.join(c['reasons']) or '-'} (expires {standard.rfc3339(c['exp'])})", err=True)


def _offline_trust(trust_list: str, national_keys: str, now: int, state: Path, revocations: bytes | None = None):
    """Parse a cached trust list, never one older than the newest this verifier accepted
    (remembered in ``state``): replaying last week's list must not un-revoke anything.  The
    revocation file, when given, must be the one the list names (SHA-256)."""
    from standard import revocation_file, trustlist
    token = read_text(trust_list, "--trust-list").strip()
    if token.startswith("{"):
        token = json_file(trust_list, "--trust-list", dict).get("jws")
    # An unreadable state is refused, never taken as "nothing seen yet" (that would let a replayed
    # list back in); exit 2 like any other misuse, never a traceback that looks like "not valid".
    seen = json_file(state, "--state", dict).get("seq", 0) if state.exists() else 0
    if not isinstance(seen, int) or isinstance(seen, bool):
        raise BadRequest(f"--state {state} is not a verifier state file; restore it, or remove it knowingly")
    trust = trustlist.parse(token, json_file(national_keys, "--national-keys", dict), now, min_seq=seen)
    if revocations:
        revocation_file.attach(trust, revocation_file.check(trust.payload, revocations))
    if trust.seq != seen:        # higher, or replacing a floor no genuine list could reach
        state.parent.mkdir(parents=True, exist_ok=True)
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": trust.seq}))
        tmp.replace(state)
    return trust


@click.command()
@click.argument("text", required=False)
@click.option("--image", type=InputPath(), help="a PNG/JPEG of the QR code")
@click.option("--at", help="judge the code as of this RFC 3339 time (default: now); a --trust-list is "
                            "checked against the clock")
@click.option("--trust-list", type=InputPath(), help="cached trust list (offline mode; needs --national-keys)")
@click.option("--national-keys", type=InputPath(),
              help="the national public keys pinned for offline mode (`healthcode trust-list --national-keys`)")
@click.option("--state", type=OutputPath(),
              help="offline mode: where the highest trust-list seq seen is kept "
                   "(default $HEALTHCODE_DATA/offline-verifier.json)")
@click.option("--revocations", type=InputPath(),
              help="offline mode: the revocation file the trust list names (healthcode trust-list --revocations, "
                   "GET /v1/trust-list/revocations); without it foreign codes are refused (revocations_missing)")
@click.option("--trust", "trust_files", multiple=True, type=InputPath(),
              help="extra trust anchor for foreign codes: a JWKS/JWK JSON file or an X.509 certificate (PEM/DER)")
def verify(text, image, at, trust_list, national_keys, state, revocations, trust_files):
    """Verify a code (argument, --image, or stdin) and print the verdict.  Exit 0 valid, 1 not
    valid, 2 misused (one line says why)."""
    import time
    from adapters.verifier import Verifier
    now = standard.parse_rfc3339(at) if at else int(time.time())
    if text is None and image is None:
        text = sys.stdin.read()
    if image is None and not text.strip():
        raise click.UsageError("no code given: pass the QR text, --image FILE, or pipe it on stdin")
    anchors = anchors_in(trust_files, "--trust")
    picture = read_bytes(image, "--image") if image else None
    revocation_bytes = read_bytes(revocations, "--revocations", MAX_REVOCATION_FILE) if revocations else None
    if trust_list or national_keys:
        if not (trust_list and national_keys):
            raise click.UsageError("offline mode needs both --trust-list and --national-keys")
        from config.settings import load_settings
        settings = load_settings()
        # the list is checked against this machine's clock, whatever --at says: --at chooses the
        # moment a code is judged at, never makes a list dated ahead or a lower seq acceptable
        trust = _offline_trust(trust_list, national_keys, int(time.time()),
                               Path(state) if state else settings.data_dir / "offline-verifier.json",
                               revocation_bytes)
        verifier = Verifier(settings.formats(), options=settings.format_options)
        trust = trust.with_anchors(anchors) if anchors else trust
        verdict = (verifier.verify_image_codes(picture, trust, now) if image
                   else verifier.verify(text, trust, now))
    else:
        svc = service()
        verdict = (svc.verification.verify_image_codes(picture, now=now, device="cli", anchors=anchors)
                   if image else svc.verification.verify(text, now=now, device="cli", anchors=anchors))
    emit(verdict.as_dict())
    sys.exit(0 if verdict.valid else 1)


@click.command()
@click.argument("text", required=False)
@click.option("--to", "target", required=True, help="target region code, e.g. 820000")
@click.option("--format", "fmt", type=click.Choice(["native", "national", "online"]), default="native",
              show_default=True, help="the target region's own format, the national one, or an online code")
def transcode(text, target, fmt):
    """Turn a verified code (argument or stdin) into a code of region --to; print its QR text.
    Exit 1 (one line, transcode_refused) when the code does not verify."""
    try:
        issued, _ = service().issuing.transcode(text if text is not None else sys.stdin.read(), target,
                                        fmt=None if fmt == "native" else fmt, actor=OPERATOR_CLI)
    except HealthCodeError as exc:
        if exc.code != "transcode_refused":
            raise
        click.echo(error_line(exc), err=True)
        sys.exit(1)
    click.echo(issued.qr_text)
