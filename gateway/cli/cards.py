"""``print``: printed offline codes as a PDF, for people without phones."""
from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import click

import standard
from gateway.cli.common import OPERATOR_CLI, InputPath, OutputPath, emit, read_text, service
from issuers import ID_TYPES
from standard.errors import BadRequest, FileInvalid, HealthCodeError

MAX_BATCH_FILE = 5_000_000


def _read_batch(path: str) -> list:
    """A care home's list: CSV (region,id_number,name[,id_type][,status]) or a JSON list."""
    from issuers import make_person
    text = read_text(path, "--batch", MAX_BATCH_FILE)
    if path.endswith(".json"):
        try:
            rows = json.loads(text)
        except (ValueError, RecursionError):
            raise FileInvalid(f"--batch {path}: not JSON") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise FileInvalid(f"--batch {path}: not a JSON list of objects")
    else:
        try:
            rows = list(csv.DictReader(text.splitlines()))
        except csv.Error as exc:
            raise FileInvalid(f"--batch {path}: not CSV ({exc})") from None
    entries = []
    for number, row in enumerate(rows, start=2 if not path.endswith(".json") else 1):
        try:
            person = make_person(str(row.get("id_number") or ""), str(row.get("name") or ""),
                                 str(row.get("id_type") or "resident"))
            entries.append((str(row.get("region") or "").strip(), person, row.get("status") or None))
        except HealthCodeError as exc:
            raise BadRequest(f"--batch {path} row {number}: {exc.message}", code=exc.code) from None
    if not entries:
        raise FileInvalid(f"--batch {path} has no rows")
    return entries


def _print_target(out: str | None) -> str:
    """Cards hold codes of real people: never written into the source tree by default, and never
    over a file the repository tracks."""
    root = standard.PROJECT_ROOT
    inside = lambda p: p == root or root in p.parents          # noqa: E731
    if out is None:
        if inside(Path.cwd().resolve()) and (root / ".git").exists():
            raise click.UsageError(f"give --out FILE.pdf: the current directory is the source tree ({root})")
        out = OutputPath().convert(f"cards-{time.strftime('%Y%m%d-%H%M%S')}.pdf", None, None)
    target = Path(out).resolve()
    if inside(target) and (root / ".git").exists():
        tracked = subprocess.run(["git", "-C", str(root), "ls-files", "--error-unmatch", str(target)],
                                 capture_output=True).returncode == 0
        if tracked:
            raise BadRequest(f"--out {out} is a file of the repository; choose another --out")
    return out


@click.command("print")
@click.option("--region", help="GB/T 2260 code of the issuing region (one person)")
@click.option("--id-number", help="the person's ID number (one person)")
@click.option("--name", help="the person's name as on the document (one person)")
@click.option("--id-type", type=click.Choice(ID_TYPES), default="resident", show_default=True,
              help="the kind of document --id-number is from (one person)")
@click.option("--status", type=click.Choice(["green", "yellow", "red"]),
              help="the region's issuer overriding the colour its rules decided (one person; needs "
                   "--override-reason; the stored colour is not changed)")
@click.option("--override-reason", help="why the issuer overrides the decided colour (audited)")
@click.option("--batch", type=InputPath(), help="CSV or JSON list of people")
@click.option("--layout", type=click.Choice(["single", "sheet"]),
              help="one card per page (default for one person), or four per A4 (default for --batch)")
@click.option("--format", "fmt", type=click.Choice(["native", "online"]), default="native", show_default=True,
              help="online: print online codes (the region's status URL + a code id)")
@click.option("--out", type=OutputPath(),
              help="the PDF to write (default: cards-<time>.pdf in the current directory, "
                   "which must not be the source tree)")
def print_cmd(region, id_number, name, id_type, status, override_reason, batch, layout, fmt, out):
    """Print offline codes (valid 7 days by default) as a PDF, in the colour each person's issuer
    decided (stored colour and reasons; a person the issuer has no record of is refused).  A
    batch prints as an operator; --status for one person prints as that region's issuer."""
    from issuers import make_person
    if not batch and not (region and id_number and name):
        raise click.UsageError("give --region, --id-number and --name, or --batch FILE")
    out = _print_target(out)
    entries = _read_batch(batch) if batch else [(region, make_person(id_number, name, id_type), status)]
    actor = {"role": "issuer", "id": "cli", "region": region} if status and not batch else OPERATOR_CLI
    pdf = service().issuing.print_cards(entries, layout=layout or ("sheet" if batch else "single"),
                                        actor=actor, fmt=None if fmt == "native" else fmt,
                                        override_reason=override_reason)
    Path(out).write_bytes(pdf)
    emit({"cards": len(entries), "out": out})
