"""The region's status interface for online codes (docs/standard.md §4.4): the signed status a
verifier fetches for a code whose QR is only an address and an id."""
from __future__ import annotations

from config.settings import Settings
from standard.errors import CodeRevoked, CodeUnknown, NotFound
from store import Store


class OnlineStatusService:
    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store

    def answer(self, region_code: str, code_id: str) -> str:
        """What ``GET /v1/status/{region}/{code_id}`` answers.  A withdrawn code gets no answer."""
        self.settings.region(region_code)                   # region_unknown
        answer = self.store.online_answer(code_id, region_code)
        if answer is None:
            raise NotFound("no online code with this id")
        if self.store.is_revoked(code_id):
            raise CodeRevoked("this code has been withdrawn by its issuer")
        return answer

    def local(self, region_code: str, code_id: str) -> str | None:
        """For the verifier: a region this deployment issues itself is answered in-process (no
        HTTP to itself); None sends the verifier to the region's registered address."""
        if region_code not in self.settings.region_codes() or \
                self.settings.issuer_url_for(self.settings.region(region_code)):
            return None
        try:
            return self.answer(region_code, code_id)
        except NotFound:
            raise CodeUnknown(f"region {region_code} has no online code with this id") from None
