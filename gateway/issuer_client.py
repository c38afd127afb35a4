"""The gateway's HTTP client for regional issuers (kiosk and assisted lookups).

Short timeouts and a couple of quick retries on connection failures: an elderly person is
standing at the kiosk.  When the region cannot answer we say so (``issuer_unavailable``) —
we never fall back to a cached or guessed colour.  A bounded connection pool, a bounded read
of the answer, and a circuit breaker per issuer: after ``BREAKER_FAILURES`` failures in a row the
gateway answers ``issuer_unavailable`` at once for ``BREAKER_COOLDOWN`` seconds instead of
tying up a worker thread per waiting kiosk, then lets one request through to probe.
"""
from __future__ import annotations

import json
import threading
import time

from toolkit.breaker import CircuitBreaker
from adapters.status_client import read_capped
from standard.errors import HealthCodeError, IdentityNotMatched, UpstreamUnavailable

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
MAX_RESPONSE_BYTES = 64_000
BREAKER_FAILURES = 5
BREAKER_COOLDOWN = 10.0


class IssuerClient:
    def __init__(self, retries: int = 2, breaker: CircuitBreaker | None = None, clock=time.monotonic):
        """``clock`` (seconds, monotonic) times the breaker's cooldown unless ``breaker`` is given."""
        self.breaker = breaker or CircuitBreaker(BREAKER_FAILURES, BREAKER_COOLDOWN, clock=clock)
        self.retries = retries
        self._session = None
        self._lock = threading.Lock()

    @property
    def session(self):
        """The HTTP session, made (and requests imported, ~35 ms) by the first lookup sent over
        HTTP: a process that never sends one starts without it."""
        with self._lock:
            if self._session is None:
                import requests
                from requests.adapters import HTTPAdapter
                from urllib3.util.retry import Retry
                session = requests.Session()
                retry = Retry(total=self.retries, connect=self.retries, read=0, status=self.retries,
                              backoff_factor=0.1, status_forcelist=(502, 503, 504), allowed_methods=None,
                              raise_on_status=False)
                adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32, pool_block=True)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._session = session
            return self._session

    def lookup(self, base_url: str, region: str, token: str, body: dict) -> dict:
        if not self.breaker.allow(base_url):
            raise UpstreamUnavailable(f"the issuer for region {region} is not answering; "
                                      "try again shortly or use a printed code")
        try:
            answer = self._lookup(base_url, region, token, body)
        except UpstreamUnavailable:
            self.breaker.record(base_url, ok=False)
            raise
        self.breaker.record(base_url, ok=True)
        return answer

    def _lookup(self, base_url: str, region: str, token: str, body: dict) -> dict:
        url = f"{base_url.rstrip('/')}/v1/issuers/{region}/lookup"
        deadline = time.monotonic() + (CONNECT_TIMEOUT + READ_TIMEOUT) * 2
        session = self.session
        import requests
        try:
            response = session.post(url, json=body, headers={"Authorization": f"Bearer {token}"},
                                         timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), stream=True)
            with response:
                content = read_capped(response, deadline, MAX_RESPONSE_BYTES)
        except (requests.RequestException, OSError, ValueError):
            raise UpstreamUnavailable(f"the issuer for region {region} cannot be reached; "
                                      "try again shortly or use a printed code") from None
        if content is None:
            raise UpstreamUnavailable(f"the issuer for region {region} answered nonsense")
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        if response.status_code == 200 and isinstance(data, dict):
            return data
        error = (data or {}).get("error", {}) if isinstance(data, dict) else {}
        if not isinstance(error, dict):
            error = {}
        if response.status_code == 404 and error.get("code") == IdentityNotMatched.code:
            raise IdentityNotMatched(str(error.get("message", "no matching record"))[:200])
        if 400 <= response.status_code < 500 and isinstance(error.get("code"), str):
            raise HealthCodeError(str(error.get("message", "issuer refused"))[:200], code=error["code"][:64])
        raise UpstreamUnavailable(f"the issuer for region {region} is not answering properly "
                                  f"(HTTP {response.status_code})")
