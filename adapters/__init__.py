"""Format registry: one module per code format, found by name from config.

A module ``adapters.<name>`` declares its format with one call,
``adapters.contract.register(adapter[, configure=make])``; the adapter is a
:class:`~adapters.contract.FormatAdapter` and, as the format allows, an
:class:`~adapters.contract.IssuingFormat` or a :class:`~adapters.contract.RevocableFormat`.

The registry imports what the configuration names (no module here knows every province) and
admits only what that module registered under that name: any other name — a typo, a module that
is not a format (``verifier``, ``base``, ``qr``, ``contract``), a name that is not an identifier —
is :class:`~standard.errors.UnknownFormat`, never an AttributeError or ImportError.
"""
from __future__ import annotations

import importlib
from typing import Any, Iterable, Mapping, Protocol

from adapters.base import JwsClaimFormat
from adapters.contract import FormatAdapter, IssuingFormat, REGISTERED, Registration, RevocableFormat
from standard.errors import ConfigInvalid, UnknownFormat

NATIONAL_FORMAT = "national"


def _shown(name: object) -> str:
    return repr(name[:40]) if isinstance(name, str) else "given"


def _registration(name: object) -> Registration:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise UnknownFormat(f"format {_shown(name)} is not known")
    if name not in REGISTERED:
        module = f"{__name__}.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:          # the format exists but a module it needs does not
                raise
    found = REGISTERED.get(name)
    if found is None:
        raise UnknownFormat(f"format {_shown(name)} is not known")
    return found


def get(name: str) -> FormatAdapter:
    """The format's adapter with default options; UnknownFormat for anything not a format."""
    return _registration(name).adapter


def load(name: str, options: Mapping[str, Any] | None = None) -> FormatAdapter:
    """The format's adapter configured with ``options`` (from ``[format.<name>]``); a format that
    takes no options is the same object whatever they say."""
    found = _registration(name)
    if options and found.configure is not None:
        return found.configure(options)
    return found.adapter


def issuing_format(name: str) -> IssuingFormat:
    """The format a region issues in: UnknownFormat unless it is a registered issuing format."""
    adapter = get(name)
    if not isinstance(adapter, IssuingFormat):
        raise UnknownFormat(f"format {_shown(name)} is read here but never issued")
    return adapter


def revocable_format(name: object) -> RevocableFormat | None:
    """The format if its certificates can be withdrawn by their own identifiers, else None (for
    any other value too: an operator's request names it)."""
    try:
        adapter = get(name)             # type: ignore[arg-type]  # any value: a request names it
    except UnknownFormat:
        return None
    return adapter if isinstance(adapter, RevocableFormat) else None


def titles(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{format: {"name": 粤康码, "name_en": Yuekang code}}``: the names people know the formats
    by, from each adapter (one source for the pages)."""
    return {name: {"name": get(name).title, "name_en": get(name).title_en} for name in names}


def detect(text: str, loaded: Iterable[FormatAdapter]) -> FormatAdapter:
    """The first of the ``loaded`` adapters that recognises ``text``."""
    for adapter in loaded:
        if adapter.detect(text):
            return adapter
    raise UnknownFormat("this is not a health code format the gateway knows")


class Detector:
    """:func:`detect` over a fixed tuple of adapters, the same answer in fewer questions: a table
    format (:class:`~adapters.base.JwsClaimFormat`, which claims exactly the texts starting with
    its prefix) whose prefix holds one colon, at its end, is found by the text's first colon in
    a dict; only the adapters before it that are not such table formats are asked first."""

    def __init__(self, loaded: Iterable[FormatAdapter]) -> None:
        self.loaded = tuple(loaded)
        self._by_prefix: dict[str, tuple[FormatAdapter, tuple[FormatAdapter, ...]]] = {}
        asked: list[FormatAdapter] = []          # adapters a text must be shown, in order
        for adapter in self.loaded:
            prefix = getattr(adapter, "prefix", None)
            if type(adapter).detect is JwsClaimFormat.detect and isinstance(prefix, str) \
                    and prefix.find(":") == len(prefix) - 1 >= 0:
                self._by_prefix.setdefault(prefix, (adapter, tuple(asked)))
            else:
                asked.append(adapter)
        self._others = tuple(asked)     # what a text no such prefix starts is shown, in order

    def __call__(self, text: str) -> FormatAdapter:
        found = self._by_prefix.get(text[:text.find(":") + 1])
        if found is None:
            return detect(text, self._others)
        adapter, before = found
        for other in before:
            if other.detect(text):
                return other
        return adapter


# --- the configuration's format names, checked when it loads --------------------------------------
class _Region(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def format(self) -> str: ...

    @property
    def online_url(self) -> str: ...


class FormatSettings(Protocol):
    """What :func:`check_settings` reads of ``config.settings.Settings``."""

    @property
    def regions(self) -> tuple[_Region, ...]: ...

    @property
    def extra_formats(self) -> tuple[str, ...]: ...

    @property
    def format_options(self) -> dict: ...


def check_settings(settings: FormatSettings) -> None:
    """Every format name in the configuration is a registered format: a region's format one it
    issues, ``extra_formats`` and ``[format.<name>]`` formats it reads.  UnknownFormat names the
    entry (a typo refuses to start, never a crash on the first request); ConfigInvalid for a
    known format in a place it cannot serve (a region's format it never issues, options for a
    format that takes none)."""
    def known(name: object, where: str) -> FormatAdapter:
        try:
            return get(name)            # type: ignore[arg-type]  # the TOML may hold any value
        except UnknownFormat:
            raise UnknownFormat(f"{where} names format {_shown(name)}, which is not known "
                                f"(a module under adapters/ that registers it)") from None

    for region in settings.regions:
        if not isinstance(known(region.format, f"region {region.code}"), IssuingFormat):
            raise ConfigInvalid(f"region {region.code} names format {_shown(region.format)}, "
                                "which is read here but never issued")
    for name in settings.extra_formats:
        known(name, "extra_formats")
    for name in settings.format_options:
        known(name, f"[format.{name}]")
        if _registration(name).configure is None and settings.format_options[name]:
            raise ConfigInvalid(f"[format.{name}]: format {name!r} takes no options")
