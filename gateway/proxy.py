"""The client's address behind a reverse proxy, believed only from the proxy.

Anonymous limits (verification, unauthenticated lookups) and the audit log key on
``request.remote_addr``.  Behind nginx (deploy/) every connection comes from the proxy, so one
client would exhaust everyone's limit; the proxy names the client in ``X-Real-IP`` (and appends
it to ``X-Forwarded-For``).  :class:`ClientAddress` rewrites ``REMOTE_ADDR`` to that client —
but only when the connection itself comes from an address in ``HEALTHCODE_TRUSTED_PROXIES``
(config/settings.py, empty by default).  From any other peer both headers are ignored, so a
client connecting directly cannot pick the address its limits are counted on.

:func:`limit_key` is what those limits count under: an IPv6 client is its /64 network, since a host
picks any of its 2**64 addresses at will; :func:`network_key` is the /48 that /64 is part of,
which has a limit of its own.
"""
from __future__ import annotations

import functools
import ipaddress


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    if address is None:
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


IPV6_CLIENT_PREFIX = 64            # one subscriber's network: SLAAC hosts choose their own addresses in it


@functools.lru_cache(maxsize=4096)         # a checkpoint's gates ask again and again; bounded
def limit_key(address: str) -> str:
    """The key a client's anonymous limits are counted under: an IPv4 address (an IPv4-mapped
    IPv6 address is its IPv4), or an IPv6 address's /64 network — otherwise one host, moving
    through the addresses of its own network, would get a fresh budget with every request and
    could crowd every other client out of the counters.  Anything else (a unix socket's empty
    address) is itself."""
    found = _address(address) if address else None
    if found is None:
        return f"addr:{address}"
    if getattr(found, "ipv4_mapped", None):
        found = found.ipv4_mapped
    if found.version == 6:
        return f"net:{ipaddress.ip_network((found, IPV6_CLIENT_PREFIX), strict=False)}"
    return f"addr:{found}"


IPV6_NETWORK_PREFIX = 48          # one site's allocation (RIRs assign it; tunnel brokers give one away)


@functools.lru_cache(maxsize=4096)
def network_key(key: str) -> str | None:
    """The wider network a :func:`limit_key` belongs to, counted too: an IPv6 /64's /48 — a
    holder of a /48 has 65 536 /64s, each a limit of its own, so a /48 has one limit as well.
    None for anything else (an IPv4 address, a credential)."""
    if not key.startswith("net:"):
        return None
    try:
        network = ipaddress.ip_network(key[4:], strict=False)
    except ValueError:
        return None
    if network.version != 6 or network.prefixlen < IPV6_NETWORK_PREFIX:
        return None
    return f"net48:{network.supernet(new_prefix=IPV6_NETWORK_PREFIX)}"


def client_address(peer: str, real_ip: str | None, forwarded_for: str | None, networks) -> str:
    """Who the client is: ``peer`` unless ``peer`` is a trusted proxy.  From a trusted proxy,
    ``X-Real-IP`` (one address, set by the proxy itself) wins; else the right-most address of
    ``X-Forwarded-For`` that is not a trusted proxy (entries left of it were written by the
    client and prove nothing).  A header that is not an address leaves ``peer``: a misconfigured
    proxy puts its clients under one shared limit, never under one they chose."""
    if not networks or not _trusted(_address(peer), networks):
        return peer
    if real_ip is not None:
        found = _address(real_ip)
        return str(found) if found is not None else peer
    if forwarded_for:
        hops = [_address(part) for part in forwarded_for.split(",")]
        if any(hop is None for hop in hops):
            return peer
        for hop in reversed(hops):
            if not _trusted(hop, networks):
                return str(hop)
        return str(hops[0])
    return peer


class ClientAddress:
    """WSGI middleware: ``REMOTE_ADDR`` becomes :func:`client_address`."""

    def __init__(self, app, networks):
        self.app = app
        self.networks = tuple(networks)

    def __call__(self, environ, start_response):
        environ["REMOTE_ADDR"] = client_address(
            environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_REAL_IP"),
            environ.get("HTTP_X_FORWARDED_FOR"), self.networks)
        return self.app(environ, start_response)
