"""``$HEALTHCODE_DATA/delegations.json``: the cities whose delegation their province withdrew.

A city with no record here is delegated (its province signs its delegation into every trust
list, standard/delegation.py); a withdrawn city's record says when and by whom.  Written
atomically under a lock, like the key indexes; the trust list is re-signed when it changes."""
from __future__ import annotations

from toolkit import filelock


class DelegationFile(filelock.JsonFile):
    """``{"withdrawn": {city: {"at": epoch s, "by": actor id, "reason": text}}}``."""

    filename = "delegations.json"
    marks = filelock.TRUST_INPUTS_CHANGED     # the trust list is made of it
    compact = False

    def empty(self) -> dict:
        return {"withdrawn": {}}

    def withdrawn(self) -> dict[str, dict]:
        return dict(self.load().get("withdrawn", {}))

    def is_withdrawn(self, city: str) -> bool:
        """Whether ``city`` is withdrawn as the file says now (one ``stat`` when unchanged)."""
        return city in self.snapshot()[1].get("withdrawn", {})

    def withdraw(self, city: str, at: int, by: str, reason: str) -> bool:
        """Record the withdrawal; False when the city was already withdrawn (nothing changes)."""
        with self.changing():
            doc = self.load()
            if city in doc.setdefault("withdrawn", {}):
                return False
            doc["withdrawn"][city] = {"at": int(at), "by": by, "reason": reason}
            self._write(doc)
            return True

    def restore(self, city: str) -> bool:
        """Drop the withdrawal; False when the city was not withdrawn (nothing changes)."""
        with self.changing():
            doc = self.load()
            if doc.get("withdrawn", {}).pop(city, None) is None:
                return False
            self._write(doc)
            return True
