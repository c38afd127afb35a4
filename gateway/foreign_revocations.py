"""The foreign revocation lists this deployment holds (EU DCC hash batches, SMART Health Card rid
lists): ``$HEALTHCODE_DATA/foreign-revocations.json``, public material written atomically.  The
lists themselves are read and merged by :mod:`adapters.revocation_lists`; this module only keeps
them on disk.  They ride in the signed trust list as ``foreign_revocations``."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from adapters import revocation_lists


class RevocationFile:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "foreign-revocations.json"
        self._lock = threading.Lock()

    def load(self) -> dict:
        if not self.path.exists():
            return revocation_lists.empty()
        return json.loads(self.path.read_text(encoding="utf-8"))

    def merge(self, fmt: str, parsed) -> dict:
        """Fold one parsed list in (all or nothing); the new document."""
        with self._lock:
            doc = revocation_lists.merge(self.load(), fmt, parsed)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
            return doc
