"""Real multi-server Redis deployments for the tests, on loopback ports.

* :func:`start_cluster`: a Redis Cluster of 3 primaries with a replica each (or none), made from
  ``redis-server --cluster-enabled yes`` and ``redis-cli --cluster create``.
* :func:`start_sentinel_group`: a primary, one replica and 3 sentinels
  (``redis-sentinel``, or ``redis-server --sentinel`` where only the server is
  installed) watching service ``corral``.

Both use short node/down timeouts so a killed primary is replaced in seconds.
With ``tls=`` (certificates from :mod:`tests.tls`) every server and sentinel
speaks TLS only, wants a client certificate, and links to its peers over TLS
(cluster bus, replication); :func:`cli` and the helpers here reach them so too.
Nothing here is a fake: every server is a real process, stopped by ``stop()``.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.asyncio import Redis, RedisCluster

from tests.tls import Certificates

SERVICE = "corral"
"""The Sentinel service name of :func:`start_sentinel_group`."""


class DeploymentUnavailable(Exception):
    """A program the deployment needs is not installed."""


_TLS: dict[int, Certificates] = {}
"""The ports served over TLS only, with the certificates that reach them."""


def _exe(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise DeploymentUnavailable(f"{name} is not on PATH (apt-get install -y redis-server)")
    return exe


def _port_pair_free(port: int) -> bool:
    for p in (port, port + 10000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def free_ports(count: int, *, bus: bool = False) -> list[int]:
    """``count`` free loopback ports (each with ``port + 10000`` free too when ``bus``)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port in ports or (bus and (port > 55000 or not _port_pair_free(port))):
            continue
        ports.append(port)
    return ports


def _die_with_parent() -> None:
    """In the child: be killed when the test process dies, however it dies (Linux),
    so a killed test run leaves no servers behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"a Redis process on port {port} exited ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listened on port {port} in time")


def cli(port: int, *args: str, timeout: float = 30) -> str:
    """Run ``redis-cli -p port args…`` and return what it printed."""
    done = subprocess.run(
        [_exe("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *_cli_tls(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout


@dataclass
class Node:
    """One redis-server (or sentinel) process of a deployment."""

    port: int
    args: list[str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.workdir / f"{self.port}.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            self.args, cwd=self.workdir, stdout=log, stderr=log, preexec_fn=_die_with_parent
        )
        log.close()
        _wait_listening(self.port, self.proc, time.monotonic() + 15)

    def kill(self) -> None:
        """``kill -9``: the server stops at once, whatever it had not replicated is lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _cli_tls(port: int) -> list[str]:
    tls = _TLS.get(port)
    return tls.cli_args() if tls is not None else []


def _server_args(port: int, *extra: str, tls: Certificates | None = None) -> list[str]:
    listen = ["--port", str(port)]
    if tls is not None:
        _TLS[port] = tls
        listen = ["--port", "0", "--tls-port", str(port), *tls.server_args(),
                  "--tls-cluster", "yes", "--tls-replication", "yes"]  # fmt: skip
    return [
        _exe("redis-server"),
        *listen,
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
        *extra,
    ]  # fmt: skip


@dataclass
class Cluster:
    """A running Redis Cluster: 3 primaries and their replicas."""

    nodes: list[Node]
    workdir: Path
    seeds: list[int] = field(default_factory=list)
    tls: Certificates | None = None

    def url(self, scheme: str | None = None, query: str = "") -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.seeds)
        scheme = scheme or ("rediss+cluster" if self.tls else "redis+cluster")
        return f"{scheme}://{hosts}" + _query(self.tls, query)

    def node(self, port: int) -> Node:
        return next(n for n in self.nodes if n.port == port)

    def slot_map(self) -> dict[tuple[int, int], int]:
        """``(first slot, last slot) -> primary port``, asked of a live node."""
        for node in self.nodes:
            if node.alive:
                return {(first, last): port for first, last, port in _slots(node.port)}
        raise RuntimeError("no live node in the cluster")

    def primary_of_slot(self, slot: int) -> int:
        """The port of the primary serving ``slot`` now."""
        for (first, last), port in self.slot_map().items():
            if first <= slot <= last:
                return port
        raise RuntimeError(f"slot {slot} is not served")

    def replica_of(self, primary: int) -> int:
        """The port of a replica of ``primary``."""
        for node in self.nodes:
            if node.alive and node.port != primary:
                info = cli(node.port, "INFO", "replication")
                if "role:slave" in info and f"master_port:{primary}" in info:
                    return node.port
        raise RuntimeError(f"no replica of {primary}")

    def wait_ok(self, timeout: float = 60) -> None:
        """Until every live node says ``cluster_state:ok`` and they agree on the slots."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                live = [n for n in self.nodes if n.alive]
                if all("cluster_state:ok" in cli(n.port, "CLUSTER", "INFO") for n in live):
                    maps = {tuple(_slots(n.port)) for n in live}
                    if len(maps) == 1 and sum(b - a + 1 for a, b, _ in next(iter(maps))) == 16384:
                        return
            except (subprocess.SubprocessError, redis.RedisError):
                pass
            time.sleep(0.2)
        raise RuntimeError("the Redis Cluster did not become ok in time")

    def wait_promoted(self, slot: int, old: int, timeout: float = 60) -> int:
        """Until a primary other than ``old`` serves ``slot`` and the cluster is ok;
        return its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                port = self.primary_of_slot(slot)
                if port != old:
                    self.wait_ok(timeout=max(1.0, deadline - time.monotonic()))
                    return port
            except (subprocess.SubprocessError, redis.RedisError, RuntimeError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"no replica took over slot {slot} in time")

    def wait_replicas(self, timeout: float = 60) -> None:
        """Until every live replica has finished its first sync with its primary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [cli(n.port, "INFO", "replication") for n in self.nodes if n.alive]
            replicas = [i for i in infos if "role:slave" in i]
            synced = (
                "master_link_status:up" in i and "master_sync_in_progress:0" in i for i in replicas
            )
            if replicas and all(synced):
                return
            time.sleep(0.2)
        raise RuntimeError("the cluster's replicas did not sync in time")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _query(tls: Certificates | None, query: str) -> str:
    """A URL's query: the TLS parameters for ``tls``, then ``query``."""
    text = "&".join(q for q in (tls.query() if tls else "", query) if q)
    return f"?{text}" if text else ""


def _slots(port: int) -> list[tuple[int, int, int]]:
    """``(first slot, last slot, primary port)`` as the node on ``port`` sees them."""
    tls = _TLS.get(port)
    with redis.Redis(port=port, socket_timeout=10, **(tls.redis_py_kwargs() if tls else {})) as raw:
        reply = raw.execute_command("CLUSTER", "SLOTS")
    return sorted((int(r[0]), int(r[1]), int(r[2][1])) for r in reply)


def start_cluster(
    workdir: Path,
    *,
    node_timeout_ms: int = 2000,
    replicas: int = 1,
    tls: Certificates | None = None,
) -> Cluster:
    """Start cluster-enabled servers and join them: 3 primaries with ``replicas`` each."""
    workdir.mkdir(parents=True, exist_ok=True)
    ports = free_ports(3 * (1 + replicas), bus=True)
    nodes = []
    for port in ports:
        args = _server_args(
            port,
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{port}.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
            "--cluster-replica-validity-factor", "0",
            "--dir", str(workdir),
            tls=tls,
        )  # fmt: skip
        nodes.append(Node(port, args, workdir))
    cluster = Cluster(nodes, workdir, seeds=ports[:3], tls=tls)
    try:
        for node in nodes:
            node.start()
        hosts = [f"127.0.0.1:{p}" for p in ports]
        cli(ports[0], "--cluster", "create", *hosts, "--cluster-replicas", str(replicas),
            "--cluster-yes")  # fmt: skip
        cluster.wait_ok()
        if replicas:
            cluster.wait_replicas()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@dataclass
class SentinelGroup:
    """A primary, a replica and 3 sentinels watching them as :data:`SERVICE`."""

    servers: list[Node]
    sentinels: list[Node]
    workdir: Path
    tls: Certificates | None = None

    def url(self, scheme: str | None = None, query: str = "") -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        scheme = scheme or ("rediss+sentinel" if self.tls else "redis+sentinel")
        return f"{scheme}://{hosts}/{SERVICE}" + _query(self.tls, query)

    def primary_port(self) -> int:
        """The primary's port, as the sentinels report it now."""
        for sentinel in self.sentinels:
            if sentinel.alive:
                out = cli(sentinel.port, "SENTINEL", "get-master-addr-by-name", SERVICE)
                return int(out.split()[1])
        raise RuntimeError("no live sentinel")

    def wait_primary(self, not_port: int | None = None, timeout: float = 60) -> int:
        """Until the sentinels agree on a live primary (other than ``not_port``) that
        says it is one, with a replica attached; return its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                port = self.primary_port()
                if port != not_port:
                    info = cli(port, "INFO", "replication")
                    if "role:master" in info and (not_port is not None or "slave0:" in info):
                        return port
            except (subprocess.SubprocessError, RuntimeError, IndexError):
                pass
            time.sleep(0.2)
        raise RuntimeError("the sentinels did not report a primary in time")

    def server(self, port: int) -> Node:
        return next(n for n in self.servers if n.port == port)

    def stop(self) -> None:
        for node in [*self.sentinels, *self.servers]:
            node.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _sentinel_command(conf: Path) -> list[str]:
    exe = shutil.which("redis-sentinel")
    if exe is not None:
        return [exe, str(conf)]
    return [_exe("redis-server"), str(conf), "--sentinel"]


def start_sentinel_group(
    workdir: Path, *, down_after_ms: int = 1000, tls: Certificates | None = None
) -> SentinelGroup:
    """Start a primary, its replica and 3 sentinels; return once they agree."""
    workdir.mkdir(parents=True, exist_ok=True)
    primary_port, replica_port, *sentinel_ports = free_ports(5)
    primary = Node(
        primary_port, _server_args(primary_port, "--dir", str(workdir), tls=tls), workdir
    )
    replica = Node(
        replica_port,
        _server_args(
            replica_port,
            "--dir",
            str(workdir),
            "--replicaof",
            "127.0.0.1",
            str(primary_port),
            tls=tls,
        ),
        workdir,
    )
    sentinels = []
    for port in sentinel_ports:
        conf = workdir / f"sentinel-{port}.conf"
        listen = f"port {port}\n"
        if tls is not None:
            _TLS[port] = tls
            listen = f"port 0\ntls-port {port}\n{tls.server_conf()}tls-replication yes\n"
        conf.write_text(
            f"{listen}bind 127.0.0.1\ndaemonize no\nloglevel warning\n"
            f"dir {workdir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        sentinels.append(Node(port, _sentinel_command(conf), workdir))
    group = SentinelGroup([primary, replica], sentinels, workdir, tls=tls)
    try:
        for node in [primary, replica, *sentinels]:
            node.start()
        group.wait_primary()
        _wait_sentinels_know_replica(group)
        _wait_synced(replica_port)
    except BaseException:
        group.stop()
        raise
    return group


def _wait_synced(replica: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = cli(replica, "INFO", "replication")
        if "master_link_status:up" in info and "master_sync_in_progress:0" in info:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the replica on {replica} did not sync in time")


def _wait_sentinels_know_replica(group: SentinelGroup, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            known = [
                cli(s.port, "SENTINEL", "replicas", SERVICE).count("ip")
                and int(
                    cli(s.port, "SENTINEL", "master", SERVICE)
                    .split("num-other-sentinels\n")[1]
                    .split()[0]
                )
                for s in group.sentinels
            ]
            if all(n >= 2 for n in known):
                return
        except (subprocess.SubprocessError, IndexError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError("the sentinels did not find each other and the replica in time")


def raw_client(url: str) -> Redis | RedisCluster:
    """A plain redis-py client on the Redis of a test URL (a cluster client for
    ``redis+cluster://``), for reading and aging keys behind corral's back."""
    if url.startswith("redis+cluster://"):
        host, _, port = url.removeprefix("redis+cluster://").split(",")[0].partition(":")
        return RedisCluster(host=host, port=int(port), decode_responses=True, protocol=2)
    return Redis.from_url(url, decode_responses=True)
