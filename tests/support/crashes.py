"""Decoder crashes, caught: the verifier and the adapters answer a decoder bug as ``malformed``
(never a 500, never green) and log it with ``decoder_crash`` set (adapters.base.log_decoder_crash).
A test that accepts ``malformed`` for garbage would pass on such a crash; with the
``no_decoder_crash`` fixture it fails instead."""
from __future__ import annotations

import logging

from adapters.base import DECODER_CRASH


class DecoderCrashes(logging.Handler):
    """Collects every decoder crash logged under ``adapters`` while installed."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, DECODER_CRASH):
            self.records.append(record)

    def __enter__(self) -> "DecoderCrashes":
        logger = logging.getLogger("adapters")
        self._level = logger.level
        logger.addHandler(self)
        if logger.getEffectiveLevel() > logging.WARNING:
            logger.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc) -> None:
        logger = logging.getLogger("adapters")
        logger.removeHandler(self)
        logger.setLevel(self._level)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]
