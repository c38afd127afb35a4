"""The foreign revocation lists this deployment holds (EU DCC hash batches, SMART Health Card rid
lists): ``$HEALTHCODE_DATA/foreign-revocations.json``, public material written atomically.  The
lists themselves are read and merged by :mod:`adapters.revocation_lists`; this module only keeps
them on disk.  They reach verifiers as the trust list's revocation file (standard/revocation_file.py),
which the signed list names by SHA-256."""
from __future__ import annotations

from adapters import revocation_lists
from toolkit import filelock


class RevocationFile(filelock.JsonFile):
    filename = "foreign-revocations.json"
    marks = filelock.TRUST_INPUTS_CHANGED     # the trust list is made of it

    def empty(self) -> dict:
        return revocation_lists.empty()

    def merge(self, fmt: str, parsed) -> dict:
        """Fold one parsed list in (all or nothing); the new document."""
        with self.changing():                                     # other workers, the CLI
            doc = revocation_lists.merge(self.load(), fmt, parsed)
            self._write(doc)
            return doc

    def remove(self, fmt: str, key: dict) -> tuple[int, dict]:
        """Drop one held list; (entries removed, the new document)."""
        with self.changing():
            doc, removed = revocation_lists.remove(self.load(), fmt, key)
            if removed:
                self._write(doc)
            return removed, doc
