"""Where and how to connect to Redis: a URL read into :class:`ConnectionSettings`.

corral reads Redis URLs itself (it does not hand them to another client):

* ``redis://[[user]:password@]host[:port][/db]`` (TCP), ``rediss://…`` (TLS),
  ``unix://[[user]:password@]/path/redis.sock[?db=n]`` (a Unix socket);
  ``valkey://`` and ``valkeys://`` are the same as ``redis://`` and ``rediss://``.
  (Cluster and Sentinel URLs are read by :mod:`.deployments`.)
  An IPv6 host is written in brackets: ``redis://[::1]:6379/0``. Characters such
  as ``@ : / ? #`` in a user name or password are percent-encoded
  (``urllib.parse.quote(password, safe="")``); the credentials end at the last ``@``.
* Query parameters: ``db``, ``socket_timeout`` (seconds a reply may take;
  default 5), ``socket_connect_timeout`` (seconds; default 10), and for
  ``rediss://`` only ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
  ``ssl_cert_reqs`` (``required`` | ``optional`` | ``none``) and
  ``ssl_check_hostname`` (true/false); ``min_replicas`` (after every write
  script, ``WAIT`` until that many replicas acknowledged it; default 0, off) and
  ``min_replicas_timeout`` (seconds that ``WAIT`` may take; default 1). Any other
  parameter is an error.

A URL that cannot be read raises :class:`~corral.errors.ConfigurationError` saying
what is wrong with it; the message shows the URL with its password masked and
never quotes the credentials, whatever the URL's shape.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from corral.backends import mask_url
from corral.errors import ConfigurationError

__all__ = ["ConnectionSettings", "parse_redis_url"]

_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")
_TLS_SCHEMES = ("rediss", "valkeys")
_TLS_PARAMETERS = frozenset(
    {"ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname"}
)
_PARAMETERS = (
    frozenset(
        {"db", "socket_timeout", "socket_connect_timeout", "min_replicas", "min_replicas_timeout"}
    )
    | _TLS_PARAMETERS
)
_Bad = Callable[[str], ConfigurationError]
"""Makes the error for one problem with the URL (it names the masked URL)."""
_CERT_MODES = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where and how to connect, as read from a URL. Its repr never shows the password."""

    host: str | None = "localhost"
    port: int = 6379
    path: str | None = None
    """A Unix socket's path (``host`` is None then)."""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: ssl.SSLContext | None = None
    server_hostname: str | None = None
    connect_timeout: float = 10.0
    timeout: float = 5.0
    """Seconds a reply may make no progress before the connection is dropped."""
    name: str | None = None
    """Set with ``CLIENT SETNAME`` on every (re)connect."""
    min_replicas: int = 0
    """After each write script, ``WAIT`` for this many replicas (0: do not wait)."""
    min_replicas_timeout: float = 1.0
    """Seconds the ``WAIT`` after a write script may take."""


def parse_redis_url(url: str, *, shown: str | None = None) -> ConnectionSettings:
    """Read a Redis URL (see the module docstring); no I/O happens. ``shown``: the
    URL to name in errors, when ``url`` was made from another one."""
    shown = mask_url(url) if shown is None else shown

    def bad(problem: str) -> ConfigurationError:
        return ConfigurationError(f"bad Redis URL {shown!r}: {problem}")

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        raise ConfigurationError(
            f"a Redis URL starts with redis://, rediss:// or unix:// (valkey://, valkeys://), "
            f"or is a Cluster or Sentinel URL (redis+cluster://, redis+sentinel://), not {shown!r}"
        )
    # Credentials first, so nothing after this point can quote them.
    userinfo, at, location = rest.rpartition("@")
    username = password = None
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(password_text) if colon else None
    location, hash_sign, _ = location.partition("#")
    if hash_sign:
        raise bad("a Redis URL has no #fragment (percent-encode a '#' in a password as %23)")
    location, _, query_text = location.partition("?")
    query = _query(query_text, bad)
    if scheme not in _TLS_SCHEMES and (tls := sorted(_TLS_PARAMETERS & set(query))):
        raise bad(f"{', '.join(tls)} only apply to TLS: use rediss://")
    timeout = _seconds(query, "socket_timeout", 5.0, bad)
    connect_timeout = _seconds(query, "socket_connect_timeout", 10.0, bad)
    replicas = _count(query.get("min_replicas"), "min_replicas", bad)
    replicas_timeout = _seconds(query, "min_replicas_timeout", 1.0, bad)
    if replicas and replicas_timeout >= timeout:
        raise bad(
            f"min_replicas_timeout ({replicas_timeout:g}s) must be shorter than "
            f"socket_timeout ({timeout:g}s), or every WAIT would time the connection out"
        )
    if scheme == "unix":
        path = unquote(location)
        if not path:
            raise bad("a unix:// Redis URL needs a socket path: unix:///path/redis.sock")
        return ConnectionSettings(
            host=None, path=path, db=_db(query.get("db"), bad), username=username,
            password=password, connect_timeout=connect_timeout, timeout=timeout,
            min_replicas=replicas, min_replicas_timeout=replicas_timeout,
        )  # fmt: skip
    host_port, _, db_path = location.partition("/")
    host, port = _host_port(host_port, bad)
    context = _ssl_context(query, bad) if scheme in _TLS_SCHEMES else None
    return ConnectionSettings(
        host=host, port=port, db=_db(db_path or query.get("db"), bad), username=username,
        password=password, ssl=context, server_hostname=host if context is not None else None,
        connect_timeout=connect_timeout, timeout=timeout,
        min_replicas=replicas, min_replicas_timeout=replicas_timeout,
    )  # fmt: skip


def _count(text: str | None, name: str, bad: _Bad) -> int:
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()):
        raise bad(f"{name} is a whole number of replicas >= 0, not {text!r}")
    return int(text)


def _query(text: str, bad: _Bad) -> dict[str, str]:
    query = {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}
    unknown = sorted(set(query) - _PARAMETERS)
    if unknown:
        # Only the names: an unknown parameter's value may be a secret (?password=…).
        raise bad(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; corral reads "
            f"{', '.join(sorted(_PARAMETERS))}"
        )
    return query


def _host_port(text: str, bad: _Bad) -> tuple[str, int]:
    if text.startswith("["):
        end = text.find("]")
        after = text[end + 1 :] if end > 0 else ""
        if end < 0 or (after and not after.startswith(":")):
            raise bad("an IPv6 host is written [address] or [address]:port")
        host, port_text = text[1:end], after[1:]
    elif text.count(":") > 1:
        raise bad("write an IPv6 host in brackets: redis://[::1]:6379/0")
    else:
        host, _, port_text = text.partition(":")
    if not port_text:
        return unquote(host) or "localhost", 6379
    if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise bad(f"the port {port_text!r} is not a number from 1 to 65535")
    return unquote(host) or "localhost", int(port_text)


def _db(text: str | None, bad: _Bad) -> int:
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()):
        raise bad(f"the database {text!r} is not a whole number >= 0 (redis://host:port/db)")
    return int(text)


def _seconds(query: dict[str, str], name: str, default: float, bad: _Bad) -> float:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise bad(f"{name} is a number of seconds > 0, not {text!r}")
    return value


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _ssl_context(query: dict[str, str], bad: _Bad) -> ssl.SSLContext:
    requirement = query.get("ssl_cert_reqs", "required").lower()
    if requirement not in _CERT_MODES:
        raise bad(f"ssl_cert_reqs must be required, optional or none, not {requirement!r}")
    check_text = query.get("ssl_check_hostname", "true" if requirement == "required" else "false")
    check = _BOOLEANS.get(check_text.lower())
    if check is None:
        raise bad(f"ssl_check_hostname is true or false, not {check_text!r}")
    if check and requirement == "none":
        raise bad(
            "ssl_check_hostname=true needs a verified certificate: leave out "
            "ssl_cert_reqs=none, or ssl_check_hostname"
        )
    if "ssl_keyfile" in query and "ssl_certfile" not in query:
        raise bad("ssl_keyfile is the key of a client certificate: give ssl_certfile too")
    ca = query.get("ssl_ca_certs")
    try:
        context = ssl.create_default_context(cafile=ca)
    except (OSError, ValueError) as exc:
        raise bad(f"cannot read the CA file ssl_ca_certs={ca!r}: {exc}") from None
    context.check_hostname = check
    context.verify_mode = _CERT_MODES[requirement]
    if "ssl_certfile" in query:
        certfile, keyfile = query["ssl_certfile"], query.get("ssl_keyfile")
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ValueError) as exc:
            where = f"ssl_certfile={certfile!r}" + (f", ssl_keyfile={keyfile!r}" if keyfile else "")
            fix = "" if keyfile else " (a file without the key needs ssl_keyfile)"
            raise bad(f"cannot load the client certificate {where}: {exc}{fix}") from None
    return context
