"""Asking a region's status interface about an online code: the one piece of I/O of
:mod:`adapters.online`.

The pattern of ``gateway/issuer_client.py`` (one ``requests`` session, connect and read
timeouts, a couple of quick retries on connection failures and 502-504), for a checkpoint
instead of a kiosk: a person is standing at the gate, so a region that does not answer in
about two seconds gets a verdict error (``issuer_unavailable``), never a guessed colour.  Each
answer is read up to a size cap and a total deadline (a server that trickles bytes does not
hold a gate), redirects are not followed (the registered address is the only one asked), and
the environment's proxies and .netrc credentials are not used.  Good answers are kept for a few
seconds in a bounded cache: a queue at a gate re-scans the same phone; the answer is still
verified on every scan, so expiry and revocation apply to a cached answer too.

The caller has already checked the URL against the trust list (``OnlineFormat.registered_url``);
this module never sees a URL that came straight from a QR.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Mapping

from toolkit.breaker import CircuitBreaker
from standard.errors import CodeRevoked, CodeUnknown, IssuerUnreachable, StatusUnverifiable

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
RETRIES = 2
CACHE_SECONDS = 10
CACHE_ENTRIES = 1024
DOWN_SECONDS = 5                 # after a region failed to answer, fail fast this long
MAX_ANSWER_BYTES = 16_000        # a signed status is ~700 bytes

if TYPE_CHECKING:
    import requests

# requests (~35 ms to import) is imported by the first status asked over HTTP: a process that
# never asks one (verify-batch of signed codes) starts without it.


class StatusClient:
    def __init__(self, connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT,
                 retries: int = RETRIES, cache_seconds: float = CACHE_SECONDS,
                 cache_entries: int = CACHE_ENTRIES, down_seconds: float = DOWN_SECONDS,
                 local: Callable[[str, str], str | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.retries = int(retries)
        self.cache_seconds = float(cache_seconds)
        self.cache_entries = max(0, int(cache_entries))
        self.local = local              # (region, code_id) -> answer text, or None: ask over HTTP
        self.breaker = CircuitBreaker(failures=1, cooldown=float(down_seconds), clock=clock)
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._session: requests.Session | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "StatusClient":
        known = ("connect_timeout", "read_timeout", "retries", "cache_seconds", "cache_entries",
                 "down_seconds", "local", "clock")
        return cls(**{k: options[k] for k in known if k in options})

    def session(self) -> requests.Session:
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry
            session = requests.Session()
            session.trust_env = False
            retry = Retry(total=self.retries, connect=self.retries, read=0, redirect=0,
                          status=self.retries, backoff_factor=0.05, status_forcelist=(502, 503, 504),
                          allowed_methods=frozenset({"GET"}), raise_on_status=False)
            adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session = session
        return self._session

    # -- the cache: seconds, bounded, least recently used out first ------------------------------
    def _cached(self, url: str) -> str | None:
        with self._lock:
            hit = self._cache.get(url)
            if hit is None:
                return None
            if self.clock() - hit[0] > self.cache_seconds:
                del self._cache[url]
                return None
            self._cache.move_to_end(url)
            return hit[1]

    def _keep(self, url: str, answer: str) -> None:
        if not self.cache_entries or self.cache_seconds <= 0:
            return
        with self._lock:
            self._cache[url] = (self.clock(), answer)
            self._cache.move_to_end(url)
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)

    def cache_size(self) -> int:
        return len(self._cache)

    # -- asking ----------------------------------------------------------------------------------
    def answer(self, url: str, region: str, code_id: str) -> str:
        """The region's signed answer (compact JWS text) for one code; a verdict error if the
        region cannot be asked, says no, or answers something that is not an answer."""
        cached = self._cached(url)
        if cached is not None:
            return cached
        answer = self.local(region, code_id) if self.local else None
        if answer is None:
            answer = self._fetch_unless_down(url, region)
        self._keep(url, answer)
        return answer

    def _fetch_unless_down(self, url: str, region: str) -> str:
        """A region that just failed to answer is not asked again for ``down_seconds``: a queue
        (or a batch of 500) of its codes gets ``issuer_unavailable`` at once instead of waiting
        out the timeouts one by one, and a struggling region is not hammered."""
        if not self.breaker.allow(region):
            raise IssuerUnreachable(f"the status interface of region {region} did not answer a "
                                    "moment ago; try again shortly or use a printed code")
        try:
            answer = self._fetch(url, region)
        except IssuerUnreachable:
            self.breaker.record(region, ok=False)
            raise
        except Exception:
            self.breaker.record(region, ok=True)         # it answered, if not with a status
            raise
        self.breaker.record(region, ok=True)
        return answer

    def _fetch(self, url: str, region: str) -> str:
        unavailable = IssuerUnreachable(f"the status interface of region {region} cannot be "
                                        "reached; try again shortly or use a printed code")
        deadline = time.monotonic() + sum(self.timeout) * (self.retries + 1)
        session = self.session()
        import requests
        try:
            response = session.get(url, timeout=self.timeout, allow_redirects=False,
                                          stream=True, headers={"Accept": "application/json"})
            try:
                body = read_capped(response, deadline)
            finally:
                response.close()
        except requests.RequestException:
            raise unavailable from None
        if body is None:
            raise StatusUnverifiable(f"region {region} answered more than {MAX_ANSWER_BYTES} bytes")
        data = _json(response, body)
        if response.status_code == 200:
            jws = data.get("jws") if isinstance(data, dict) else None
            if not isinstance(jws, str):
                raise StatusUnverifiable(f"region {region} answered without a signed status")
            return jws
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if response.status_code == 404 and code == "not_found":
            raise CodeUnknown(f"region {region} has no online code with this id")
        if response.status_code == 410 and code == CodeRevoked.code:
            raise CodeRevoked("this code has been withdrawn by its issuer")
        if response.status_code >= 500 or response.status_code == 429:
            raise unavailable
        raise StatusUnverifiable(f"region {region} answered HTTP {response.status_code}, not a status")


def read_capped(response: requests.Response, deadline: float, limit: int = MAX_ANSWER_BYTES) -> bytes | None:
    """The body of a streamed response, or None past ``limit`` bytes; a read past the total
    ``deadline`` (``time.monotonic``) is a timeout, so a trickling server cannot hold us."""
    chunks, size = [], 0
    for chunk in response.iter_content(4096):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if time.monotonic() > deadline:
            import requests
            raise requests.Timeout("answer took too long")
    return b"".join(chunks)


def _json(response: requests.Response, body: bytes) -> Any:
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None
