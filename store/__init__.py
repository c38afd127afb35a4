"""Storage interface for status records, issued codes, scan events and the audit log.

SQLite is the embedded default (:mod:`.sqlite`); an Elasticsearch backend implements the same
:class:`Store` contract for national scale.  Nothing stored here contains a plain ID number:
people are known by their pseudonymous subject id.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from store.contract import (  # noqa: F401 — the contract, re-exported
    ScanEvent, IssuedRecord, Resident, Dependent, Store)


STORE_BACKENDS = ("sqlite", "elasticsearch")


def open_store(settings: Any, environ: Mapping[str, str] | None = None) -> Store:
    """The backend named by HEALTHCODE_STORE: ``sqlite`` (default, a file in the data directory)
    or ``elasticsearch`` (HEALTHCODE_ES_URL and friends, see ``elasticsearch.from_env``)."""
    env = os.environ if environ is None else environ
    backend = (env.get("HEALTHCODE_STORE") or "sqlite").strip().lower()
    if backend == "elasticsearch":
        from store.elasticsearch import from_env
        return from_env(settings, env)
    if backend != "sqlite":
        raise ValueError(f"HEALTHCODE_STORE must be one of {', '.join(STORE_BACKENDS)}, not {backend!r}")
    from store.sqlite import SqliteStore
    return SqliteStore(settings.data_dir / "healthcode.sqlite3")
