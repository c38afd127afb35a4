"""Format registry: one module per code format, found by name from config.

A module ``healthcode.adapters.<name>`` exposes ``ADAPTER`` (or, when it takes options from
``[format.<name>]`` in the config, ``make(options) -> adapter``), an object with::

    name: str
    def detect(text: str) -> bool
    def verify(text: str, trust: TrustList, now: int) -> Verified
    def encode(claims: dict, signer: Signer) -> str        # formats we also issue

No module here knows every province: the registry imports what the configuration names.
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from standard.errors import UnknownFormat

NATIONAL_FORMAT = "national"


def _module(name: str):
    if not name.isidentifier():
        raise UnknownFormat(f"format {name!r} is not known")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise UnknownFormat(f"format {name!r} is not known") from None


@lru_cache(maxsize=None)
def get(name: str):
    """The format's adapter with default options."""
    module = _module(name)
    return module.make({}) if hasattr(module, "make") else module.ADAPTER


def load(name: str, options: dict | None = None):
    """The format's adapter configured with ``options`` (from ``[format.<name>]``)."""
    if not options:
        return get(name)
    module = _module(name)
    return module.make(options) if hasattr(module, "make") else module.ADAPTER


def titles(names) -> dict:
    """``{format: {"name": 粤康码, "name_en": Yuekang code}}``: the names people know the formats
    by, from each adapter (one source for the pages)."""
    return {name: {"name": get(name).title, "name_en": get(name).title_en} for name in names}


def detect(text: str, loaded) -> object:
    """The first of the ``loaded`` adapters that recognises ``text``."""
    for adapter in loaded:
        if adapter.detect(text):
            return adapter
    raise UnknownFormat("this is not a health code format the gateway knows")
