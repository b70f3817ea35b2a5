"""Redis URLs: what corral reads, and that a password never shows, whatever the
URL's shape: not in an error message, a repr, ``.url`` or a log line."""

from __future__ import annotations

import logging

import pytest

from corral.backends import mask_url, open_backend
from corral.backends.redis import RedisBackend
from corral.backends.redis.client import RedisClient
from corral.backends.redis.settings import parse_redis_url
from corral.errors import ConfigurationError, StoreUnavailableError

S = "s3cr3t-Pw"
"""The password in every URL below; it must appear in no output."""

MALFORMED = {
    "a port that is not a number": f"redis://:{S}@host:notaport/0",
    "a port out of range": f"redis://:{S}@host:99999/0",
    "a database that is not a number": f"redis://user:{S}@host/notadb",
    "a database path with two parts": f"redis://u:{S}@host:1/0/1",
    "an unclosed IPv6 bracket": f"redis://:{S}@[::1/0",
    "an IPv6 host without brackets": f"redis://:{S}@::1:6379/0",
    "an unknown parameter holding the secret": f"redis://:{S}@host/0?password={S}",
    "a bad timeout": f"redis://:{S}@host/0?socket_timeout=soon",
    "a fragment": f"redis://:{S}@host/0#{S}",
    "a TLS parameter without TLS": f"redis://:{S}@host/0?ssl_ca_certs=/ca.pem",
    "a bad TLS mode": f"rediss://:{S}@host/0?ssl_cert_reqs=maybe",
    "a missing TLS file": f"rediss://:{S}@host/0?ssl_ca_certs=/nonexistent/ca.pem",
    "a unix URL without a path": f"unix://:{S}@",
    "one slash after the scheme": f"redis:/:{S}@host:6379/0",
    "no scheme at all": f":{S}@host:6379/0",
    "a password with an unencoded slash and a bad port": f"redis://:{S}/x@host:bad/0",
    "another scheme": f"mysql://root:{S}@db/app",
}


@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_url_is_a_clear_error_that_never_shows_the_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigurationError) as caught:
        open_backend(url)
    error = caught.value
    shown = f"{error!s} {error!r} {error.__cause__!r} {error.__context__!r}"
    assert S not in shown
    assert S not in caplog.text
    assert "***" in str(error) or "@" not in url.split("://")[-1]
    assert S not in mask_url(url)


def test_errors_say_what_is_wrong() -> None:
    def problem(url: str) -> str:
        with pytest.raises(ConfigurationError) as caught:
            parse_redis_url(url)
        return str(caught.value)

    assert "the port 'notaport' is not a number from 1 to 65535" in problem(
        MALFORMED["a port that is not a number"]
    )
    assert "the database 'notadb' is not a whole number" in problem(
        MALFORMED["a database that is not a number"]
    )
    assert "unknown parameter(s) 'password'" in problem(
        MALFORMED["an unknown parameter holding the secret"]
    )
    assert "only apply to TLS: use rediss://" in problem(MALFORMED["a TLS parameter without TLS"])
    assert "IPv6" in problem(MALFORMED["an IPv6 host without brackets"])
    assert "redis://, rediss:// or unix://" in problem(MALFORMED["one slash after the scheme"])


@pytest.mark.parametrize(
    "url",
    [
        f"redis://user:{S}@example.com:6380/3",
        f"redis://:{S}@localhost",
        f"redis://:{S}/with/slashes@localhost:6379/0",
        f"redis://:{S}?and#more@localhost:6379/0",
        f"redis://:{S}@p@ss@localhost/0",
        f"unix://:{S}@/run/redis.sock?db=2",
        "redis://localhost/0?socket_timeout=1&socket_connect_timeout=2",
    ],
)
def test_a_readable_url_keeps_its_password_out_of_every_repr(url: str) -> None:
    settings = parse_redis_url(url)
    if S in url:
        assert settings.password is not None
        assert settings.password.startswith(S)
    backend = RedisBackend(url)
    for text in (repr(settings), repr(backend), backend.url, repr(RedisClient(url))):
        assert S not in text, text


def test_credentials_end_at_the_last_at_sign_and_are_percent_decoded() -> None:
    s = parse_redis_url(f"redis://user:{S}@p@ss@localhost:6390/2")
    assert (s.username, s.password, s.host, s.port, s.db) == (
        "user",
        f"{S}@p@ss",
        "localhost",
        6390,
        2,
    )
    s = parse_redis_url("redis://us%3Aer:p%2Fw%40x@[::1]:6391/1")
    assert (s.username, s.password, s.host, s.port, s.db) == ("us:er", "p/w@x", "::1", 6391, 1)
    s = parse_redis_url("redis://name-only@localhost")
    assert (s.username, s.password) == ("name-only", None)


async def test_an_unreachable_server_with_a_password_is_reported_without_it(
    queue_name: str,
) -> None:
    backend = RedisBackend(f"redis://:{S}@127.0.0.1:1/0?socket_connect_timeout=2")
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            await backend.is_paused(queue_name)
        assert S not in f"{caught.value!s} {caught.value!r}"
    finally:
        await backend.close()


def test_mask_url_handles_any_text() -> None:
    assert mask_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert mask_url("redis://token@h") == "redis://***@h"
    assert mask_url("redis://h/0?auth_token=abc&db=1") == "redis://h/0?auth_token=***&db=1"
    assert mask_url("sqlite:///data@2024/q.db") == "sqlite:///data@2024/q.db"
    assert mask_url("no url at all") == "no url at all"
