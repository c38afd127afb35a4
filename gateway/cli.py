"""The ``healthcode`` command: issue, verify, serve, and the operator's chores.

Exit status of ``verify``: 0 the code is valid, 1 it is not, 2 the command was used wrongly.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from adapters import qr
import standard
from gateway.anchors import anchors_from_bytes, parse_anchor, validity_warnings
from standard.errors import BadRequest, HealthCodeError
from adapters.verifier import ImageVerdicts, Verdict


def _service():
    from gateway.services import Services
    return Services()


def _emit(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _fail_usage(exc: HealthCodeError):
    raise click.UsageError(f"{exc.code}: {exc.message}")


class _Main(click.Group):
    """Every command starts on a checked configuration (a help page excepted); a bad one — or any
    other error of ours no command turned into its own message — is one line on stderr,
    ``error: <code>: <message>``, and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            if not ctx.resilient_parsing and not set(ctx.args) & set(ctx.help_option_names):
                from gateway import checked_settings
                checked_settings()
            return super().invoke(ctx)
        except HealthCodeError as exc:
            click.echo(f"error: {exc.code}: {exc.message}", err=True)
            ctx.exit(2)


@click.group(cls=_Main)
@click.version_option(package_name="healthcode")
def main():
    """Health-code issuance and cross-region verification."""


@main.command()
def regions():
    """Print the configured regions as JSON."""
    from config.settings import load_settings
    _emit([r.as_public() for r in load_settings().regions])


@main.command()
@click.option("--region", required=True, help="GB/T 2260 code of the issuing region, e.g. 440000")
@click.option("--id-number", required=True)
@click.option("--name", required=True)
@click.option("--id-type", default="resident", show_default=True)
@click.option("--status", type=click.Choice(["green", "yellow", "red"]), help="override the rules")
@click.option("--kind", type=click.Choice(["dynamic", "offline"]), default="dynamic", show_default=True)
@click.option("--facts", help="health facts as JSON (docs/standard.md §5)")
@click.option("--format", "fmt", type=click.Choice(["native", "national", "online"]), default="native",
              show_default=True, help="online: the QR is the region's status URL + a code id (§4.4)")
@click.option("--png", type=click.Path(dir_okay=False, writable=True), help="also write the QR image here")
@click.option("--json", "as_json", is_flag=True, help="print {qr_text, status, reasons, kind, expires_at, ...}")
def issue(region, id_number, name, id_type, status, kind, facts, fmt, png, as_json):
    """Issue a code; print its QR text (status and reasons on stderr, so staff see the colour
    the rules decided), or everything as JSON with --json."""
    from issuers import make_person
    try:
        facts_obj = json.loads(facts) if facts else None
    except ValueError:
        raise click.UsageError("--facts is not valid JSON") from None
    try:
        svc = _service()
        issued = svc.issuing.issue(region, make_person(id_number, name, id_type), facts=facts_obj, status=status,
                           kind=kind, fmt=None if fmt == "native" else fmt)
    except HealthCodeError as exc:
        _fail_usage(exc)
    if png:
        Path(png).write_bytes(qr.render_png(issued.qr_text))
    c = issued.claims
    if as_json:
        _emit({"qr_text": issued.qr_text, "status": c["status"], "reasons": list(c["reasons"]),
               "region": c["region"], "format": issued.format, "kind": c["kind"],
               "holder": {"name_masked": c["name_masked"], "id_masked": c["id_masked"]},
               "code_id": c["jti"], "expires_at": standard.rfc3339(c["exp"])})
        return
    click.echo(issued.qr_text)
    click.echo(f"{c['status']}: {', '.join(c['reasons']) or '-'} (expires {standard.rfc3339(c['exp'])})", err=True)


def _offline_trust(trust_list: str, national_keys: str, now: int, state: Path, revocations: str | None = None):
    """Parse a cached trust list, never one older than the newest this verifier accepted
    (remembered in ``state``): replaying last week's list must not un-revoke anything.  The
    revocation file, when given, must be the one the list names (SHA-256)."""
    from standard import revocation_file, trustlist
    token = Path(trust_list).read_text(errors="replace").strip()
    if token.startswith("{"):
        token = _json_file(Path(trust_list), "--trust-list", dict).get("jws")
    # An unreadable state is refused, never taken as "nothing seen yet" (that would let a replayed
    # list back in); exit 2 like any other misuse, never a traceback that looks like "not valid".
    seen = _json_file(state, "--state", dict).get("seq", 0) if state.exists() else 0
    if not isinstance(seen, int) or isinstance(seen, bool):
        raise BadRequest(f"--state {state} is not a verifier state file; restore it, or remove it knowingly")
    trust = trustlist.parse(token, _json_file(Path(national_keys), "--national-keys", dict), now, min_seq=seen)
    if revocations:
        revocation_file.attach(trust, revocation_file.check(trust.payload, Path(revocations).read_bytes()))
    if trust.seq != seen:        # higher, or replacing a floor no genuine list could reach
        state.parent.mkdir(parents=True, exist_ok=True)
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": trust.seq}))
        tmp.replace(state)
    return trust


def _json_file(path: Path, option: str, kind: type):
    from toolkit import jsonin
    try:
        value = jsonin.loads(path.read_text(errors="replace"))
    except BadRequest as exc:
        raise BadRequest(f"{option} {path}: {exc.message}") from None
    if not isinstance(value, kind):
        raise BadRequest(f"{option} {path}: not a JSON {'object' if kind is dict else kind.__name__}")
    return value


@main.command()
@click.argument("text", required=False)
@click.option("--image", type=click.Path(exists=True, dir_okay=False), help="a PNG/JPEG of the QR code")
@click.option("--at", help="judge the code as of this RFC 3339 time (default: now); a --trust-list is "
                            "checked against the clock")
@click.option("--trust-list", type=click.Path(exists=True, dir_okay=False),
              help="cached trust list (offline mode; needs --national-keys)")
@click.option("--national-keys", type=click.Path(exists=True, dir_okay=False))
@click.option("--state", type=click.Path(dir_okay=False),
              help="offline mode: where the highest trust-list seq seen is kept "
                   "(default $HEALTHCODE_DATA/offline-verifier.json)")
@click.option("--revocations", type=click.Path(exists=True, dir_okay=False),
              help="offline mode: the revocation file the trust list names (healthcode trust-list --revocations, "
                   "GET /v1/trust-list/revocations); without it foreign codes are refused (revocations_missing)")
@click.option("--trust", "trust_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="extra trust anchor for foreign codes: a JWKS/JWK JSON file or an X.509 certificate (PEM/DER)")
def verify(text, image, at, trust_list, national_keys, state, revocations, trust_files):
    """Verify a code (argument, --image, or stdin) and print the verdict."""
    import time
    from adapters.verifier import Verifier
    try:
        now = standard.parse_rfc3339(at) if at else int(time.time())
    except BadRequest as exc:
        _fail_usage(exc)
    if text is None and image is None:
        text = sys.stdin.read()
    if image is None and not text.strip():
        raise click.UsageError("no code given: pass the QR text, --image FILE, or pipe it on stdin")
    try:
        anchors = [a for path in trust_files for a in anchors_from_bytes(Path(path).read_bytes())]
    except HealthCodeError as exc:
        _fail_usage(exc)
    if trust_list or national_keys:
        if not (trust_list and national_keys):
            raise click.UsageError("offline mode needs both --trust-list and --national-keys")
        from config.settings import load_settings
        try:
            from config.settings import load_settings as _settings
            # the list is checked against this machine's clock, whatever --at says: --at chooses the
            # moment a code is judged at, never makes a list dated ahead or a lower seq acceptable
            trust = _offline_trust(trust_list, national_keys, int(time.time()),
                                   Path(state) if state else _settings().data_dir / "offline-verifier.json",
                                   revocations)
        except HealthCodeError as exc:
            _fail_usage(exc)
        settings = load_settings()
        verifier = Verifier(settings.formats(), options=settings.format_options)
        trust = trust.with_anchors(anchors) if anchors else trust
        verdict = (verifier.verify_image_codes(Path(image).read_bytes(), trust, now) if image
                   else verifier.verify(text, trust, now))
    else:
        svc = _service()
        verdict = (svc.verification.verify_image_codes(Path(image).read_bytes(), now=now, device="cli", anchors=anchors)
                   if image else svc.verification.verify(text, now=now, device="cli", anchors=anchors))
    _emit(verdict.as_dict())
    sys.exit(0 if verdict.valid else 1)


def batch_job(svc, line: str):
    """One JSON Lines request → ({"id": id}, ``batch.Job``) for a code's text, or ({"id": id}, its
    verdict) for an image (every code in it, verified here) or a bad line."""
    from gateway.batch import Job
    item_id, item = None, None
    try:
        from toolkit import jsonin
        item = jsonin.loads(line)          # depth-capped, Unicode only: one bad line, one verdict
        if not isinstance(item, dict):
            raise BadRequest("line must be a JSON object")
        item_id = item.get("id")
        now = standard.parse_rfc3339(item["at"]) if item.get("at") else None
        trust = item.get("trust") or []
        if not isinstance(trust, list):
            raise BadRequest("trust must be a list")
        anchors = tuple(parse_anchor(a) for a in trust)
        if "image_b64" in item:
            from gateway.common import decode_image_b64
            return {"id": item_id}, svc.verification.verify_image_codes(
                decode_image_b64(item["image_b64"]), now=now, anchors=list(anchors), device="cli-batch")
        if "payload" not in item:
            raise BadRequest("give payload or image_b64")
        return {"id": item_id}, Job(text=item["payload"], now=now, anchors=anchors)
    except HealthCodeError as exc:
        verdict = Verdict.failed(exc)
        if isinstance(item, dict) and "image_b64" in item:
            verdict = ImageVerdicts([verdict], 0)
        return {"id": item_id}, verdict


def _dump_line(answer: dict) -> str:
    return json.dumps(answer, ensure_ascii=False) + "\n"


def batch_text(svc, lines: list[str]) -> str:
    """JSON Lines requests → the answer lines, in order (the verification service's batch flow,
    the same as ``POST /v1/verify/batch``'s)."""
    return "".join(svc.verification.answer_batch("lines", lines, lambda line: batch_job(svc, line), _dump_line,
                                                 device="cli-batch"))


def batch_line(svc, line: str) -> dict:
    """One JSON Lines request → one verdict dict (never raises); an image gives every code in it."""
    fields, ready = batch_job(svc, line)
    from gateway.batch import Job
    verdict = svc.verification.verify_many([ready], device="cli-batch")[0] if isinstance(ready, Job) else ready
    return {**fields, **verdict.as_dict()}


BATCH_BLOCK = 2000


def _line_blocks(stream, size: int = BATCH_BLOCK):
    """Non-empty lines in blocks of up to ``size``: whatever has already arrived, so a big file
    goes through in large blocks while a scanner typing one line at a time gets each answer at
    once (a block ends when no further input is waiting)."""
    import io
    import os
    import select
    try:
        fd = stream.fileno()
    except (io.UnsupportedOperation, AttributeError, ValueError):      # a StringIO (tests, embedding)
        lines = [line for line in stream if line.strip()]
        for i in range(0, len(lines), size):
            yield lines[i:i + size]
        return
    pending, block = b"", []
    while True:
        ready = select.select([fd], [], [], 0)[0] if block else [fd]
        if not ready or len(block) >= size:
            yield block
            block = []
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        block.extend(text for text in (raw.decode("utf-8", "replace") for raw in lines) if text.strip())
    if pending.strip():
        block.append(pending.decode("utf-8", "replace"))
    if block:
        yield block


@main.command("verify-batch")
def verify_batch():
    """JSON Lines on stdin → one verdict per line on stdout (large inputs use every core)."""
    svc = _service()
    svc.verification.group_scan_writes()                 # svc.close() below writes what is still queued
    try:
        for block in _line_blocks(sys.stdin):
            for i in range(0, len(block), BATCH_BLOCK):          # one write a block, not a line
                sys.stdout.write(batch_text(svc, block[i:i + BATCH_BLOCK]))
            sys.stdout.flush()
    finally:
        svc.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=0, type=int, help="gunicorn workers (0: Flask's threaded server)")
@click.option("--purge-every", default=3600, type=float, show_default=True,
              help="seconds between retention purges (0: never; use `healthcode purge` from cron)")
@click.option("--worker-class", type=click.Choice(["gthread", "sync"]), default="gthread", show_default=True,
              help="gunicorn worker model (with --workers)")
@click.option("--threads", default=4, type=int, show_default=True, help="threads per gthread worker")
def serve(host, port, workers, purge_every, worker_class, threads):
    """Serve the gateway over HTTP."""
    import signal
    from gateway import create_app
    # Regions without an issuer_url (and no HEALTHCODE_ISSUER_URL) are issued by this same
    # process: their lookups are in-process calls, never HTTP to ourselves (which starved
    # gunicorn workers waiting on each other).
    if workers:
        from gateway.wsgi import run_gunicorn
        run_gunicorn(host, port, workers, purge_every, worker_class=worker_class, threads=threads)
        return
    app = create_app(purge_every=purge_every, group_scans=True)

    def stop(signum, frame):            # SIGTERM: leave through the finally, queued scans written
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    click.echo(f"healthcode gateway on http://{host}:{port}/", err=True)
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        app.extensions["healthcode"].close()


@main.command("trust-list")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="write the signed trust list here")
@click.option("--national-keys", "keys_out", type=click.Path(dir_okay=False, writable=True),
              help="write the national public keys (to pin in offline verifiers) here")
@click.option("--revocations", "revocations_out", type=click.Path(dir_okay=False, writable=True),
              help="write the revocation file the list names by SHA-256 here (foreign revocation lists)")
def trust_list_cmd(out, keys_out, revocations_out):
    """Export the signed trust list, the national keys and the revocation file for offline verifiers."""
    svc = _service()
    token = svc.trust.trust_list_jws()
    held = svc.trust.revocation_file_held()
    if revocations_out:
        if held is None:
            raise click.UsageError("the trust list names no revocation file (no foreign revocation lists held)")
        Path(revocations_out).write_bytes(held.data)
    if out:
        Path(out).write_text(token + "\n")
    if keys_out:
        Path(keys_out).write_text(json.dumps(svc.trust.national_jwks(), indent=1))
    if not out:
        click.echo(token)


@main.group()
def keys():
    """Signing keys: list and rotate."""


@keys.command("list")
def keys_list():
    svc = _service()
    owners = ["national", *svc.settings.region_codes()]
    _emit({owner: svc.keystore.public_jwks(owner) for owner in owners})


@keys.command("rotate")
@click.argument("owner")
def keys_rotate(owner):
    """Make a new active key for OWNER (a region code or 'national')."""
    try:
        _emit({"owner": owner, "kid": _service().trust.rotate_key(owner)})
    except HealthCodeError as exc:
        _fail_usage(exc)


@keys.command("revoke")
@click.argument("owner")
@click.argument("kid")
@click.option("--reason", default="", help="why (compromise, loss); kept in the audit log")
def keys_revoke(owner, kid, reason):
    """Revoke OWNER's key KID (compromise): every code it signed is refused from now on."""
    try:
        _emit(_service().trust.revoke_key(owner, kid, DATA_MANAGER_CLI, reason))
    except HealthCodeError as exc:
        _fail_usage(exc)


@keys.command("rotate-seal")
def keys_rotate_seal():
    """New AES-GCM key for personal data at rest; old records still open with their own key."""
    svc = _service()
    kid = svc.sealer.rotate()
    svc.audit.record(DATA_MANAGER_CLI, "seal_key_rotate", None, kid=kid)
    _emit({"seal_kid": kid})


DATA_MANAGER_CLI = {"role": "data_manager", "id": "cli"}
MAX_REVOCATION_FILE = 64_000_000


@main.group()
def anchors():
    """Foreign trust anchors (EU DCC signer certificates, SMART Health Card issuer keys)."""


@anchors.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--iss", help="trust JWKs only for this SMART Health Card issuer URL")
def anchors_add(files, iss):
    """Trust the certificates / keys in FILES (PEM, DER, JWK or JWKS); they ride in the trust list."""
    try:
        values = [a for path in files for a in anchors_from_bytes(Path(path).read_bytes(), iss)]
        svc = _service()
        warnings = [w for v in values for w in validity_warnings(parse_anchor(v, iss), svc.now())]
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        _emit({"added": svc.trust.add_anchors(values, DATA_MANAGER_CLI, iss), "warnings": warnings})
    except HealthCodeError as exc:
        _fail_usage(exc)


@anchors.command("list")
def anchors_list():
    _emit(_service().trust.list_anchors())


@anchors.command("remove")
@click.argument("anchor_id")
def anchors_remove(anchor_id):
    try:
        _service().trust.remove_anchor(anchor_id, DATA_MANAGER_CLI)
    except HealthCodeError as exc:
        _fail_usage(exc)
    _emit({"removed": anchor_id})


@main.command("revoke-foreign")
@click.option("--format", "fmt", default="eu_dcc", show_default=True)
@click.option("--reason", default="")
@click.argument("certificate_ids", nargs=-1, required=True)
def revoke_foreign(fmt, reason, certificate_ids):
    """Withdraw foreign certificates by their identifiers (EU DCC: UVCI); prints their code ids."""
    try:
        _emit({"revoked": _service().trust.revoke_foreign(fmt, list(certificate_ids), DATA_MANAGER_CLI, reason)})
    except HealthCodeError as exc:
        _fail_usage(exc)


@main.group("revocation-lists")
def revocation_lists_group():
    """Foreign revocation lists (EU DCC hash batches, SMART Health Card rid lists); they ride in
    the trust list for offline verifiers."""


@revocation_lists_group.command("import")
@click.option("--format", "fmt", required=True, type=click.Choice(["eu_dcc", "shc"]))
@click.option("--iss", help="shc: the issuer URL the rid list belongs to")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def revocation_lists_import(fmt, iss, file):
    """Import FILE: an EU gateway revocation batch (or a JSON list of batches), or an issuer's
    ``.well-known/crl/<kid>.json``."""
    try:
        raw = Path(file).read_bytes()
        if len(raw) > MAX_REVOCATION_FILE:
            raise BadRequest(f"revocation list larger than {MAX_REVOCATION_FILE // 1_000_000} MB")
        try:
            document = json.loads(raw)
        except ValueError:
            raise BadRequest("revocation list is not JSON") from None
        _emit(_service().trust.import_revocation_list(fmt, document, DATA_MANAGER_CLI, iss))
    except HealthCodeError as exc:
        _fail_usage(exc)


@revocation_lists_group.command("list")
def revocation_lists_list():
    """The lists held: EU DCC batches by kid and hash type, SHC rid lists by issuer and kid."""
    _emit(_service().trust.revocation_lists())


@revocation_lists_group.command("remove")
@click.option("--format", "fmt", required=True, type=click.Choice(["eu_dcc", "shc"]))
@click.option("--kid", required=True, help="eu_dcc: the DSC kid (base64); shc: the issuer key's thumbprint")
@click.option("--hash-type", type=click.Choice(["UCI", "COUNTRYCODEUCI", "SIGNATURE"]),
              help="eu_dcc: only this hash type's batch (default: every batch of the kid)")
@click.option("--iss", help="shc: the issuer URL")
def revocation_lists_remove(fmt, kid, hash_type, iss):
    """Remove a held list (audited); it leaves the revocation file at once."""
    try:
        _emit(_service().trust.remove_revocation_list(fmt, {"kid": kid, "hash_type": hash_type, "iss": iss},
                                                      DATA_MANAGER_CLI))
    except HealthCodeError as exc:
        _fail_usage(exc)


@main.command()
def tokens():
    """Print each region's issuer bearer token (give each region only its own)."""
    _emit(_service().administration.issuer_tokens())


@main.group()
def credentials():
    """Credentials for kiosks, helpers, operators, data managers and auditors."""


@credentials.command("add")
@click.option("--role", required=True, type=click.Choice(["kiosk", "helper", "operator", "data_manager", "auditor"]))
@click.option("--id", "principal_id", required=True, help="who: e.g. kiosk-guangzhou-001, helper-wang")
@click.option("--kiosk-id", help="kiosks: the device id its requests are limited and audited as (default: --id)")
def credentials_add(role, principal_id, kiosk_id):
    """Make a credential; its token is printed once and stored only as a hash.  Adding an id
    that exists replaces its token (the old one stops working)."""
    try:
        token = _service().administration.add_credential(role, principal_id, DATA_MANAGER_CLI, kiosk_id)
    except HealthCodeError as exc:
        _fail_usage(exc)
    _emit({"role": role, "id": principal_id, **({"kiosk_id": kiosk_id} if kiosk_id else {}), "token": token})


@credentials.command("list")
def credentials_list():
    """Who holds a credential (role, id, kiosk_id, created) — never a token."""
    _emit(_service().credentials.list())


@credentials.command("revoke")
@click.argument("principal_id")
def credentials_revoke(principal_id):
    """Withdraw PRINCIPAL_ID's credential at once."""
    try:
        _emit({"revoked": _service().administration.revoke_credential(principal_id, DATA_MANAGER_CLI)})
    except HealthCodeError as exc:
        _fail_usage(exc)


def _read_batch(path: str) -> list:
    """A care home's list: CSV (region,id_number,name[,id_type][,status]) or a JSON list."""
    import csv
    from issuers import make_person
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = json.loads(text) if path.endswith(".json") else list(csv.DictReader(text.splitlines()))
    entries = []
    for number, row in enumerate(rows, start=2 if not path.endswith(".json") else 1):
        try:
            person = make_person(row.get("id_number", ""), row.get("name", ""), row.get("id_type") or "resident")
            entries.append((str(row.get("region", "")).strip(), person, row.get("status") or None))
        except HealthCodeError as exc:
            raise click.UsageError(f"{path} row {number}: {exc.code}: {exc.message}") from None
    if not entries:
        raise click.UsageError(f"{path} has no rows")
    return entries


def _print_target(out: str | None) -> str:
    """Cards hold codes of real people: never written into the source tree by default, and never
    over a file the repository tracks."""
    import subprocess
    import time
    root = standard.PROJECT_ROOT
    inside = lambda p: p == root or root in p.parents          # noqa: E731
    if out is None:
        if inside(Path.cwd().resolve()) and (root / ".git").exists():
            raise click.UsageError(f"give --out FILE.pdf: the current directory is the source tree ({root})")
        out = f"cards-{time.strftime('%Y%m%d-%H%M%S')}.pdf"
    target = Path(out).resolve()
    if inside(target) and (root / ".git").exists():
        tracked = subprocess.run(["git", "-C", str(root), "ls-files", "--error-unmatch", str(target)],
                                 capture_output=True).returncode == 0
        if tracked:
            raise click.UsageError(f"{out} is a file of the repository; choose another --out")
    return out


@main.command("print")
@click.option("--region")
@click.option("--id-number")
@click.option("--name")
@click.option("--status", type=click.Choice(["green", "yellow", "red"]),
              help="the region's issuer overriding the colour its rules decided (needs --override-reason; "
                   "the stored colour is not changed)")
@click.option("--override-reason", help="why the issuer overrides the decided colour (audited)")
@click.option("--batch", type=click.Path(exists=True, dir_okay=False), help="CSV or JSON list of people")
@click.option("--layout", type=click.Choice(["single", "sheet"]), help="one card per page, or four per A4")
@click.option("--format", "fmt", type=click.Choice(["native", "online"]), default="native", show_default=True,
              help="online: print online codes (the region's status URL + a code id)")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="the PDF to write (default: cards-<time>.pdf in the current directory, "
                   "which must not be the source tree)")
def print_cmd(region, id_number, name, status, override_reason, batch, layout, fmt, out):
    """Print offline codes (valid 7 days by default) as a PDF, in the colour each person's issuer
    decided (stored colour and reasons; a person the issuer has no record of is refused).  A
    batch prints as an operator; --status for one person prints as that region's issuer."""
    out = _print_target(out)
    actor = {"role": "operator", "id": "cli"}
    if status and not batch:
        actor = {"role": "issuer", "id": "cli", "region": region}
    from issuers import make_person
    if batch:
        entries = _read_batch(batch)
    elif region and id_number and name:
        try:
            entries = [(region, make_person(id_number, name), status)]
        except HealthCodeError as exc:
            _fail_usage(exc)
    else:
        raise click.UsageError("give --region, --id-number and --name, or --batch FILE")
    try:
        pdf = _service().issuing.print_cards(entries, layout=layout or ("sheet" if batch else "single"),
                                             actor=actor, fmt=None if fmt == "native" else fmt,
                                             override_reason=override_reason)
    except HealthCodeError as exc:
        _fail_usage(exc)
    Path(out).write_bytes(pdf)
    _emit({"cards": len(entries), "out": out})


@main.command()
@click.argument("text", required=False)
@click.option("--to", "target", required=True, help="target region code, e.g. 820000")
@click.option("--format", "fmt", type=click.Choice(["native", "national", "online"]), default="native",
              show_default=True)
def transcode(text, target, fmt):
    """Turn a verified code (argument or stdin) into a code of region --to; print its QR text."""
    try:
        issued, _ = _service().issuing.transcode(text if text is not None else sys.stdin.read(), target,
                                         fmt=None if fmt == "native" else fmt,
                                         actor={"role": "operator", "id": "cli"})
    except HealthCodeError as exc:
        if exc.code == "transcode_refused":
            click.echo(json.dumps(exc.as_dict()), err=True)
            sys.exit(1)
        _fail_usage(exc)
    click.echo(issued.qr_text)


@main.command()
def purge():
    """Delete data older than the retention window (30 days by default)."""
    _emit(_service().administration.purge(actor=DATA_MANAGER_CLI))


@main.group()
def audit():
    """The audit log (auditor)."""


@audit.command("verify")
@click.option("--checkpoint", help="SEQ:HASH printed by an earlier verification; the log must still hold it")
def audit_verify(checkpoint):
    """Check the hash chain; exit 1 if any entry was altered, removed or reordered, or the log
    no longer holds the checkpoint (cut off or rewritten)."""
    from store.audit import parse_checkpoint
    try:
        mark = parse_checkpoint(checkpoint) if checkpoint else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = _service().audit.verify(mark)
    _emit(result)
    sys.exit(0 if result["intact"] else 1)


@audit.command("show")
@click.option("--after", default=0, type=click.IntRange(0, 2**63 - 1))
@click.option("--limit", default=100, type=click.IntRange(1, 1000))
def audit_show(after, limit):
    for entry in _service().audit.entries(after, limit):
        _emit(entry)


@main.command("seed-demo")
def seed_demo():
    """Create demo keys, tokens and one demo resident per region; print their codes."""
    from gateway.demo import seed
    for row in seed(_service()):
        _emit(row)


from gateway.rules_cli import rules as _rules  # noqa: E402 — `healthcode rules …` lives in its own module
main.add_command(_rules)
from gateway.codes_cli import codes as _codes  # noqa: E402 — `healthcode codes …` too
main.add_command(_codes)


if __name__ == "__main__":       # pragma: no cover
    main()
