"""What deploy/ installs, run for real: nginx in front of three gateway processes on loopback.

The gateway believes X-Real-IP / X-Forwarded-For only from HEALTHCODE_TRUSTED_PROXIES
(gateway/proxy.py), so behind nginx anonymous limits are per client again and a client
connecting directly cannot choose its address.
"""
from __future__ import annotations

import pytest

from config.settings import trusted_proxies
from gateway.proxy import client_address
from standard.errors import ConfigInvalid

PROXY = trusted_proxies("127.0.0.1, 10.1.0.0/16 ::1")


@pytest.mark.parametrize("peer, real_ip, forwarded, expected", [
    ("203.0.113.5", "198.51.100.1", "198.51.100.2", "203.0.113.5"),    # not a proxy: headers ignored
    ("127.0.0.1", "198.51.100.1", "6.6.6.6, 198.51.100.2", "198.51.100.1"),   # X-Real-IP wins
    ("127.0.0.1", None, "6.6.6.6, 198.51.100.2", "198.51.100.2"),      # right-most hop, not the client's own
    ("127.0.0.1", None, "198.51.100.2, 10.1.2.3", "198.51.100.2"),     # trusted hops are skipped
    ("127.0.0.1", None, "10.1.2.3, 127.0.0.1", "10.1.2.3"),            # only proxies: the left-most
    ("127.0.0.1", "not-an-address", None, "127.0.0.1"),                # garbage: the proxy's own address
    ("127.0.0.1", None, "198.51.100.2, junk", "127.0.0.1"),
    ("127.0.0.1", None, None, "127.0.0.1"),
    ("::1", "2001:db8::7", None, "2001:db8::7"),
    ("::ffff:127.0.0.1", "198.51.100.9", None, "198.51.100.9"),       # IPv4-mapped peer is the same proxy
])
def test_the_client_address_is_read_from_headers_only_from_a_trusted_proxy(peer, real_ip, forwarded, expected):
    assert client_address(peer, real_ip, forwarded, PROXY) == expected


def test_no_proxy_is_trusted_by_default_and_a_bad_setting_refuses_to_start():
    assert client_address("127.0.0.1", "198.51.100.1", "198.51.100.2", trusted_proxies("")) == "127.0.0.1"
    with pytest.raises(ConfigInvalid, match="HEALTHCODE_TRUSTED_PROXIES"):
        trusted_proxies("127.0.0.1, nginx.local")


def test_the_app_keys_anonymous_limits_on_the_client_the_proxy_names(tmp_path, monkeypatch):
    from conftest import config_with_limits
    from config.settings import load_settings
    from gateway import create_app
    monkeypatch.setenv("HEALTHCODE_TRUSTED_PROXIES", "127.0.0.1")
    settings = load_settings(config_with_limits(tmp_path, anonymous_verifications_per_minute=3),
                             data_dir=tmp_path)
    client = create_app(settings=settings).test_client()

    def verify(peer, **headers):
        return client.post("/v1/verify", json={"payload": "junk"}, headers=headers,
                           environ_base={"REMOTE_ADDR": peer}).status_code

    # through the proxy: two clients, a limit each
    assert [verify("127.0.0.1", **{"X-Real-IP": "198.51.100.1"}) for _ in range(4)] == [200, 200, 200, 429]
    assert verify("127.0.0.1", **{"X-Real-IP": "198.51.100.2"}) == 200
    # straight from a stranger: whatever it writes in the headers, it is itself
    assert [verify("203.0.113.5", **{"X-Real-IP": f"198.51.100.{50 + i}", "X-Forwarded-For": f"10.0.0.{i}"})
            for i in range(4)] == [200, 200, 200, 429]
