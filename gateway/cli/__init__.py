"""The ``healthcode`` command: issue, verify, serve, and the operator's chores.

One module per group of commands: :mod:`.codes` (regions, issue, verify, transcode),
:mod:`.verify_batch`, :mod:`.serve` (serve, seed-demo), :mod:`.cards` (print),
:mod:`.person_codes` (``codes``: a person's outstanding codes, withdrawing one), :mod:`.admin`
(trust list, keys, tokens, credentials, purge, audit), :mod:`.delegations` (cities'
delegations: list, withdraw, restore), :mod:`.foreign` (anchors, foreign
revocations), :mod:`.rules` (EU business rules).  How errors leave — click's usage block for a
usage mistake, one line ``error: <code>: <message>`` and exit 2 for anything else — is
:mod:`.common`'s.
"""
from __future__ import annotations

import click

from gateway.cli import admin, cards, codes, delegations, foreign, person_codes, rules, serve, verify_batch
from gateway.cli.common import CommandGroup
from gateway.cli.verify_batch import batch_line, batch_text  # noqa: F401 — used by tests


@click.group(cls=CommandGroup)
@click.version_option(package_name="healthcode", help="print the installed version and exit")
def main():
    """Health-code issuance and cross-region verification."""


for _command in (codes.regions, codes.issue, codes.verify, verify_batch.verify_batch, serve.serve,
                 admin.trust_list_cmd, admin.keys, foreign.anchors, foreign.revoke_foreign,
                 foreign.revocation_lists_group, admin.tokens, admin.credentials, cards.print_cmd,
                 codes.transcode, admin.purge, admin.audit, serve.seed_demo, rules.rules, person_codes.codes,
                 delegations.delegations):
    main.add_command(_command)


if __name__ == "__main__":       # pragma: no cover
    main()
