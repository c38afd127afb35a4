"""Format registry: one module per code format, found by name from config.

A module ``healthcode.adapters.<name>`` exposes ``ADAPTER``, an object with::

    name: str
    def detect(text: str) -> bool
    def verify(text: str, trust: TrustList, now: int) -> Verified
    def encode(claims: dict, signer: Signer) -> str        # formats we also issue

No module here knows every province: the registry imports what the configuration names.
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from ..errors import UnknownFormat

NATIONAL_FORMAT = "national"


@lru_cache(maxsize=None)
def get(name: str):
    if not name.isidentifier():
        raise UnknownFormat(f"format {name!r} is not known")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise UnknownFormat(f"format {name!r} is not known") from None
    return module.ADAPTER


def detect(text: str, names) -> object:
    """The first configured adapter that recognises ``text``."""
    for name in names:
        adapter = get(name)
        if adapter.detect(text):
            return adapter
    raise UnknownFormat("this is not a health code format the gateway knows")
