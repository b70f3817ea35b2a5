"""Redis Cluster and Sentinel URLs, read into a :class:`Deployment`.

* ``redis+cluster://[[user]:password@]host:port[,host:port…][?…]``: a Redis
  Cluster, found through any of the seed nodes listed (``rediss+cluster://`` for
  TLS). A cluster has database 0 only, so the URL has no ``/db``.
* ``redis+sentinel://[[user]:password@]host:port[,host:port…]/SERVICE[/db][?…]``:
  the primary of ``SERVICE`` as the listed sentinels report it
  (``rediss+sentinel://`` for TLS to the servers and the sentinels). The
  credentials are the servers'; sentinels that need a password of their own get
  it from ``sentinel_password`` (and ``sentinel_username``).

``valkey+cluster``, ``valkeys+cluster``, ``valkey+sentinel`` and
``valkeys+sentinel`` are the same with Valkey's name. Every parameter of a plain
Redis URL (:mod:`.settings`) applies: ``socket_timeout``,
``socket_connect_timeout``, the ``ssl_*`` ones and ``min_replicas`` /
``min_replicas_timeout``. A bad URL raises
:class:`~corral.errors.ConfigurationError` naming the problem, with the password
masked. No I/O happens here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlencode

from corral.backends import mask_url
from corral.backends.redis.settings import ConnectionSettings, _host_port, parse_redis_url
from corral.errors import ConfigurationError

__all__ = ["Deployment", "is_deployment_url", "parse_deployment_url"]

_KINDS: dict[str, tuple[Literal["cluster", "sentinel"], str]] = {
    f"{name}+{kind}": (kind, "rediss" if tls else "redis")
    for kind in ("cluster", "sentinel")
    for name, tls in (("redis", False), ("rediss", True), ("valkey", False), ("valkeys", True))
}
"""Scheme → (kind of deployment, the plain scheme its settings are read as)."""
_SENTINEL_PARAMETERS = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where a Cluster or a Sentinel-managed primary is found, and how to talk to it.
    Its repr never shows a password."""

    kind: Literal["cluster", "sentinel"]
    nodes: tuple[tuple[str, int], ...]
    """The cluster's seed nodes, or the sentinels."""
    settings: ConnectionSettings
    """Credentials, TLS, timeouts, database and durability, for every server."""
    tls: dict[str, str] = field(default_factory=dict)
    """The URL's ``ssl_*`` parameters, as given (for clients that take them as text)."""
    service: str | None = None
    """The Sentinel service name (None for a cluster)."""
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)

    @property
    def uses_tls(self) -> bool:
        """Whether the servers are reached over TLS."""
        return self.settings.ssl is not None


def is_deployment_url(url: str) -> bool:
    """Whether ``url`` names a Cluster or a Sentinel deployment (by its scheme)."""
    return url.partition("://")[0] in _KINDS


def parse_deployment_url(url: str) -> Deployment:
    """Read a Cluster or Sentinel URL (see the module docstring)."""
    shown = mask_url(url)

    def bad(problem: str) -> ConfigurationError:
        return ConfigurationError(f"bad Redis URL {shown!r}: {problem}")

    scheme, _, rest = url.partition("://")
    if scheme not in _KINDS:
        raise bad(f"a Cluster or Sentinel URL starts with one of {', '.join(sorted(_KINDS))}")
    kind, plain = _KINDS[scheme]
    userinfo, at, location = rest.rpartition("@")
    location, hash_sign, _ = location.partition("#")
    if hash_sign:
        raise bad("a Redis URL has no #fragment (percent-encode a '#' in a password as %23)")
    location, _, query_text = location.partition("?")
    hosts_text, _, path = location.partition("/")
    hosts = hosts_text.split(",")
    if not hosts_text or any(not h for h in hosts):
        raise bad(f"list the {_what(kind)} as host:port[,host:port…]")
    nodes = tuple(_host_port(h, bad) for h in hosts)
    query = {k: v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
    sentinel_auth = {name: query.pop(name, None) for name in _SENTINEL_PARAMETERS}
    service = None
    if kind == "cluster":
        if path or "db" in query:
            raise bad("a Redis Cluster has database 0 only: leave out /db")
        db = ""
    else:
        service_text, _, db = path.partition("/")
        service = unquote(service_text)
        if not service:
            raise bad(
                "name the Sentinel service after the sentinels: redis+sentinel://host:port/SERVICE"
            )
    if kind == "cluster" and any(sentinel_auth.values()):
        raise bad("sentinel_username and sentinel_password apply to redis+sentinel:// only")
    # The servers' settings are read as one plain URL to the first node, so every
    # rule of a plain URL (credentials, TLS files, timeouts) holds here too.
    first = hosts[0]
    single = f"{plain}://{userinfo}{at}{first}/{db}" + (f"?{urlencode(query)}" if query else "")
    settings = parse_redis_url(single, shown=shown)
    tls = {k: v for k, v in query.items() if k.startswith("ssl_")}
    return Deployment(
        kind=kind,
        nodes=nodes,
        settings=settings,
        tls=tls,
        service=service,
        sentinel_username=sentinel_auth["sentinel_username"] or None,
        sentinel_password=sentinel_auth["sentinel_password"] or None,
    )


def _what(kind: str) -> str:
    return "cluster's seed nodes" if kind == "cluster" else "sentinels"
