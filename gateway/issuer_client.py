"""The gateway's HTTP client for regional issuers (kiosk and assisted lookups).

Short timeouts and a couple of quick retries on connection failures: an elderly person is
standing at the kiosk.  When the region cannot answer we say so (``issuer_unavailable``) —
we never fall back to a cached or guessed colour.
"""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from standard.errors import HealthCodeError, NotFound, UpstreamUnavailable

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
MAX_RESPONSE_BYTES = 64_000


class IdentityNotMatched(NotFound):
    code = "identity_not_matched"


class IssuerClient:
    def __init__(self, retries: int = 2):
        self.session = requests.Session()
        retry = Retry(total=retries, connect=retries, read=0, status=retries, backoff_factor=0.1,
                      status_forcelist=(502, 503, 504), allowed_methods=None, raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def lookup(self, base_url: str, region: str, token: str, body: dict) -> dict:
        url = f"{base_url.rstrip('/')}/v1/issuers/{region}/lookup"
        try:
            response = self.session.post(url, json=body, headers={"Authorization": f"Bearer {token}"},
                                         timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.RequestException:
            raise UpstreamUnavailable(f"the issuer for region {region} cannot be reached; "
                                      "try again shortly or use a printed code") from None
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise UpstreamUnavailable(f"the issuer for region {region} answered nonsense")
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code == 200 and isinstance(data, dict):
            return data
        error = (data or {}).get("error", {}) if isinstance(data, dict) else {}
        if response.status_code == 404 and error.get("code") == IdentityNotMatched.code:
            raise IdentityNotMatched(error.get("message", "no matching record"))
        if 400 <= response.status_code < 500 and error.get("code"):
            raise HealthCodeError(error.get("message", "issuer refused"), code=error["code"])
        raise UpstreamUnavailable(f"the issuer for region {region} is not answering properly "
                                  f"(HTTP {response.status_code})")
