"""Cluster, Sentinel and Valkey URLs: what corral reads from them, and the clear
error for each mistake (no server needed)."""

from __future__ import annotations

import socket

import pytest

from corral import ConfigurationError, Queue
from corral.backends import open_backend
from corral.backends.redis.deployments import parse_deployment_url
from corral.backends.redis.redispy import _client_kwargs
from corral.backends.redis.settings import parse_redis_url
from corral.backends.redis.slots import check_queue_slot, hash_tag, key_slot


def test_a_cluster_url_lists_its_seed_nodes() -> None:
    d = parse_deployment_url("redis+cluster://u:p%40ss@a:7000,b:7001,[::1]:7002?socket_timeout=2")
    assert d.kind == "cluster"
    assert d.nodes == (("a", 7000), ("b", 7001), ("::1", 7002))
    assert (d.settings.username, d.settings.password, d.settings.timeout) == ("u", "p@ss", 2.0)
    assert "p@ss" not in repr(d)


def test_a_sentinel_url_names_the_service_and_the_database() -> None:
    d = parse_deployment_url(
        "rediss+sentinel://:pw@s1:26379,s2:26380/orders/3?ssl_cert_reqs=none&sentinel_password=sp"
    )
    assert (d.kind, d.service, d.settings.db, d.uses_tls) == ("sentinel", "orders", 3, True)
    assert d.nodes == (("s1", 26379), ("s2", 26380))
    assert (d.settings.password, d.sentinel_password) == ("pw", "sp")
    assert d.tls == {"ssl_cert_reqs": "none"}


def test_valkey_schemes_are_redis_aliases() -> None:
    assert parse_redis_url("valkey://h:1/2").db == 2
    assert parse_redis_url("valkeys://h:1/0?ssl_cert_reqs=none").ssl is not None
    assert parse_deployment_url("valkey+cluster://h:1").kind == "cluster"
    assert parse_deployment_url("valkeys+sentinel://h:1/svc").uses_tls


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+cluster://a:1/2", "database 0 only"),
        ("redis+cluster://", "seed nodes"),
        ("redis+cluster://a:1,,b:2", "seed nodes"),
        ("redis+sentinel://a:1", "name the Sentinel service"),
        ("redis+sentinel://a:1/svc/x", "not a whole number"),
        ("redis+cluster://a:1?sentinel_password=x", r"redis\+sentinel:// only"),
        ("redis+cluster://a:99999", "port"),
        ("redis+sentinel://:secret@a:1/svc?bogus=1", "unknown parameter"),
        ("redis+cluster://a:1?min_replicas=x", "min_replicas"),
        ("redis://a:1?min_replicas=1&min_replicas_timeout=9", "shorter than socket_timeout"),
    ],
)
def test_a_bad_deployment_url_says_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as caught:
        open_backend(url)
    assert "secret" not in str(caught.value)


def test_min_replicas_is_read_from_any_redis_url() -> None:
    s = parse_redis_url("redis://h/0?min_replicas=2&min_replicas_timeout=0.5")
    assert (s.min_replicas, s.min_replicas_timeout) == (2, 0.5)
    assert parse_deployment_url("redis+cluster://h:1?min_replicas=1").settings.min_replicas == 1


def test_every_mode_keeps_the_command_timeout_and_keepalive() -> None:
    d = parse_deployment_url("redis+cluster://h:1?socket_timeout=1.5&socket_connect_timeout=3")
    shared = _client_kwargs(d, name=None, blocking=False)
    assert (shared["socket_timeout"], shared["socket_connect_timeout"]) == (1.5, 3.0)
    assert shared["socket_keepalive"] is True
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert shared["socket_keepalive_options"][socket.TCP_KEEPIDLE] == 30
    assert shared["retry"].get_retries() == 0
    # Blocking commands are timed by corral (block time + socket_timeout), not redis-py.
    assert _client_kwargs(d, name="n", blocking=True)["socket_timeout"] is None


def test_hash_tags_follow_redis_cluster_rules() -> None:
    assert hash_tag("bull:{orders}:wait") == "orders"
    assert hash_tag("{}x{y}") is None
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers")
    assert key_slot("123456789") == 12739  # the CRC16 check value in the Cluster spec


@pytest.mark.parametrize(("prefix", "queue"), [("bull", "q"), ("{bull", "q"), ("bull", "q}{")])
def test_a_queue_that_would_spread_over_slots_is_refused(prefix: str, queue: str) -> None:
    with pytest.raises(ConfigurationError, match="several Redis Cluster hash slots"):
        check_queue_slot(prefix, queue)


@pytest.mark.parametrize(("prefix", "queue"), [("{bull}", "q"), ("bull", "{q}"), ("a{b}c", "q")])
def test_a_braced_prefix_or_queue_keeps_one_slot(prefix: str, queue: str) -> None:
    check_queue_slot(prefix, queue)


async def test_a_cluster_url_opens_no_connection_until_used() -> None:
    async with Queue("{q}", url="redis+cluster://127.0.0.1:1") as queue:
        assert queue is not None
