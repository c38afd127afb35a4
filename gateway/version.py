"""The running gateway's version: the installed distribution's (one source of truth,
pyproject.toml), read once — it does not change while the process runs."""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def __version__() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("healthcode")
    except PackageNotFoundError:
        return "0+unknown"
