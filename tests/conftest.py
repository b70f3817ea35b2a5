"""Shared fixtures: real services, never mocks.

* ``redis_url``: a ``redis-server`` started from PATH on a free loopback port for
  the session (or ``CORRAL_TEST_REDIS_URL``). Missing locally → the test skips
  with the reason; under ``CI`` → it fails.
* ``raw``: a plain redis-py client (``decode_responses``) on that server.
* ``sqlite_url``: a fresh SQLite file in the test's temporary directory.
* ``url``: parametrised over both backends; every conformance test runs on each.
* ``queue_name``: a name unique to the test, so tests never see each other's jobs.
* ``redis_cluster`` / ``cluster_url`` and ``sentinel_group`` / ``sentinel_url``:
  a Redis Cluster (3 primaries + 3 replicas) and a Sentinel-managed primary with
  a replica, each started once per session (see :mod:`tests.deployments`).
* ``tls_certificates``: a throwaway CA and the certificates it signed (``openssl``);
  ``tls_cluster`` and ``tls_sentinel_group``: a Cluster of 3 primaries and a
  Sentinel group that speak TLS only and want client certificates.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import pytest
from redis.asyncio import Redis

from tests.deployments import (
    Cluster,
    DeploymentUnavailable,
    SentinelGroup,
    start_cluster,
    start_sentinel_group,
)
from tests.tls import Certificates, OpensslMissing, make_certificates

IN_CI = bool(os.environ.get("CI"))


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_D = TypeVar("_D", bound=_Stoppable)


def service_missing(reason: str) -> None:
    """Skip on a developer's machine; fail under CI, where every service must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


def require_uvloop() -> None:
    """Skip (fail under CI) when uvloop, in the dev extra, is not installed."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        service_missing("uvloop is not installed (pip install 'corral[uvloop]')")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server did not listen on port {port} in time")


def _wait_until_loaded(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait until a plaintext redis-server on ``port`` answers PING with anything but
    ``LOADING``: it listens before it has read its data (an AOF after a restart), and
    until then every command fails with that error."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"PING\r\n")
                reply = conn.recv(256)
        except OSError:
            reply = b""
        if reply and not reply.startswith(b"-LOADING"):
            return  # +PONG, or -NOAUTH from a server that wants a password
        time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {port} was still loading its data")


class RedisServer:
    """A redis-server process owned by the tests."""

    def __init__(self, port: int, workdir: Path, proc: subprocess.Popen[bytes] | None) -> None:
        self.port = port
        self.workdir = workdir
        self.proc = proc

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis_server(
    workdir: Path,
    *,
    appendonly: bool = False,
    appendfsync: str = "everysec",
    port: int | None = None,
    extra: Sequence[str] = (),
) -> RedisServer:
    """Start a private redis-server; the caller stops it with ``stop_redis_server``.

    ``port``: listen there (e.g. the port of a server being restarted on the same
    ``workdir``); None picks a free one. ``appendfsync``: with ``appendonly``,
    ``always`` makes every acknowledged write survive a ``kill -9`` of the server.
    ``extra``: more arguments for the server (e.g. ``--requirepass``, ``--user``).
    """
    exe = shutil.which("redis-server")
    if exe is None:
        service_missing("redis-server is not on PATH (apt-get install -y redis-server)")
        raise AssertionError("unreachable")
    if port is None:
        port = _free_port()
    args = [
        exe,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        appendfsync,
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        *extra,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    _wait_for_port(port, proc, deadline)
    _wait_until_loaded(port, proc, deadline)
    return RedisServer(port, workdir, proc)


def stop_redis_server(server: RedisServer) -> None:
    if server.proc is not None and server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    external = os.environ.get("CORRAL_TEST_REDIS_URL")
    if external:
        port = int(external.rsplit(":", 1)[1].split("/")[0])
        yield RedisServer(port, Path(tempfile.gettempdir()), None)
        return
    workdir = Path(tempfile.mkdtemp(prefix="corral-redis-"))
    server = start_redis_server(workdir)
    try:
        yield server
    finally:
        stop_redis_server(server)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    external = os.environ.get("CORRAL_TEST_REDIS_URL")
    return external or redis_server.url


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain redis-py client on the test server, to inspect the stored layout."""
    r = Redis.from_url(redis_url, decode_responses=True)
    yield r
    await r.aclose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'corral-test.db'}"


@pytest.fixture(params=["sqlite", "redis"])
def url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh store on each backend in turn."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
def queue_name() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"


# -- Redis Cluster and Sentinel (tests/deployments.py) ------------------------------


def _running(start: Callable[[Path], _D], prefix: str) -> Iterator[_D]:
    """A deployment started by ``start`` in a new directory, stopped afterwards; its
    programs missing → skip locally, fail under CI."""
    try:
        deployment = start(Path(tempfile.mkdtemp(prefix=prefix)))
    except DeploymentUnavailable as exc:
        service_missing(str(exc))
        raise AssertionError("unreachable") from None
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """One Redis Cluster (3 primaries, 3 replicas) for the whole session."""
    yield from _running(start_cluster, "corral-cluster-")


@pytest.fixture
def cluster_url(redis_cluster: Cluster) -> str:
    return redis_cluster.url()


@pytest.fixture(scope="session")
def sentinel_group() -> Iterator[SentinelGroup]:
    """One primary + replica + 3 sentinels for the session (a failover test that
    kills its primary starts a group of its own)."""
    yield from _running(start_sentinel_group, "corral-sentinel-")


@pytest.fixture
def sentinel_url(sentinel_group: SentinelGroup) -> str:
    return sentinel_group.url()


# -- TLS (tests/tls.py) ----------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, a server and a client certificate it signed, and an unrelated CA."""
    try:
        return make_certificates(tmp_path_factory.mktemp("tls-certificates"))
    except OpensslMissing as exc:
        service_missing(str(exc))
        raise AssertionError("unreachable") from None


@pytest.fixture(scope="session")
def tls_cluster(tls_certificates: Certificates) -> Iterator[Cluster]:
    """A Redis Cluster of 3 primaries speaking TLS only (clients, bus and all)."""
    start = functools.partial(start_cluster, replicas=0, tls=tls_certificates)
    yield from _running(start, "corral-tls-cluster-")


@pytest.fixture(scope="session")
def tls_sentinel_group(tls_certificates: Certificates) -> Iterator[SentinelGroup]:
    """A primary, a replica and 3 sentinels, all speaking TLS only (slow to fail over,
    so a test that pauses the primary for a moment does not start a failover)."""
    start = functools.partial(start_sentinel_group, down_after_ms=5000, tls=tls_certificates)
    yield from _running(start, "corral-tls-sentinel-")
