"""``delegations``: the cities that issue under their province's delegation (§7.1) — list them,
withdraw one (every code of the city is refused from the next trust list on, online and
offline), restore it.  Each change is audited as the data manager's."""
from __future__ import annotations

import click

from gateway.cli.common import DATA_MANAGER_CLI, CommandGroup, emit, service


@click.group(cls=CommandGroup)
def delegations():
    """City issuers under their province's delegation: list, withdraw, restore."""


@delegations.command("list")
def delegations_list():
    """Print each city, its province and whether its delegation stands (JSON)."""
    emit(service().trust.list_delegations())


@delegations.command("withdraw")
@click.option("--city", required=True, help="the city's 6-digit region code, e.g. 440100")
@click.option("--reason", default="", help="why; kept in the audit log")
def delegations_withdraw(city, reason):
    """Withdraw CITY's delegation: the next trust list refuses every code of the city."""
    emit(service().trust.withdraw_delegation(city, DATA_MANAGER_CLI, reason))


@delegations.command("restore")
@click.option("--city", required=True, help="the city's 6-digit region code, e.g. 440100")
def delegations_restore(city):
    """Restore CITY's delegation: its codes verify again from the next trust list."""
    emit(service().trust.restore_delegation(city, DATA_MANAGER_CLI))
