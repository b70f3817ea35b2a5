"""corral over TLS, on real servers that speak TLS only and want a client certificate:
one server (``rediss://``, corral's own client), a Cluster of 3 primaries
(``rediss+cluster://``, bus over TLS) and a Sentinel group (``rediss+sentinel://``,
sentinels and replication over TLS), with a throwaway CA made at test time.

What a user relies on, in every mode: a worker processes jobs and events arrive;
the server's certificate is verified by default, and a wrong CA, a missing client
certificate or a certificate for another host fail with an error that names the
URL parameter that fixes it; ``ssl_cert_reqs=none`` turns verification off; the
command timeout and TCP keepalive hold on TLS connections as on plain ones.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral import ConfigurationError, Job, Queue, QueueEvents, StoreUnavailableError, Worker
from corral.backends.redis.connection import RedisConnectionError
from corral.backends.redis.connections import Connections
from corral.backends.redis.slots import key_slot
from tests.deployments import Cluster, Node, SentinelGroup, _server_args, cli, free_ports
from tests.tls import Certificates

pytestmark = pytest.mark.redis_only


@pytest.fixture(scope="module")
def tls_server(tls_certificates: Certificates) -> Iterator[int]:
    """A redis-server speaking TLS only, wanting a client certificate, listening on
    127.0.0.1 and 127.0.0.2 (its certificate names only the first); yields its port."""
    workdir = Path(tempfile.mkdtemp(prefix="corral-tls-"))
    (port,) = free_ports(1)
    args = _server_args(port, "--dir", str(workdir), tls=tls_certificates)
    args[args.index("--bind") + 1 : args.index("--bind") + 2] = ["127.0.0.1", "127.0.0.2"]
    node = Node(port, args, workdir)
    node.start()
    try:
        yield port
    finally:
        node.stop()


@dataclass
class Mode:
    """One way of reaching TLS servers: how its URL is made, and which server holds a key."""

    url: Callable[[str], str]
    """The URL with this query (the TLS parameters and any others)."""
    primary_of: Callable[[str], int]
    """The port of the server that holds a key."""
    ports: list[int]
    """Every port a client of this mode may connect to."""


def _standalone(port: int) -> Mode:
    return Mode(lambda q: f"rediss://localhost:{port}/0?{q}", lambda _: port, [port])


def _cluster(cluster: Cluster) -> Mode:
    hosts = ",".join(f"127.0.0.1:{p}" for p in cluster.seeds)
    return Mode(
        lambda q: f"rediss+cluster://{hosts}?{q}",
        lambda key: cluster.primary_of_slot(key_slot(key)),
        [n.port for n in cluster.nodes],
    )


def _sentinel(group: SentinelGroup) -> Mode:
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in group.sentinels)
    return Mode(
        lambda q: f"rediss+sentinel://{hosts}/corral?{q}",
        lambda _: group.primary_port(),
        [n.port for n in [*group.servers, *group.sentinels]],
    )


MODES = [
    pytest.param("standalone"),
    pytest.param("cluster", marks=pytest.mark.cluster),
    pytest.param("sentinel", marks=pytest.mark.cluster),
]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> Mode:
    """Each TLS deployment in turn."""
    if request.param == "standalone":
        return _standalone(request.getfixturevalue("tls_server"))
    if request.param == "cluster":
        return _cluster(request.getfixturevalue("tls_cluster"))
    return _sentinel(request.getfixturevalue("tls_sentinel_group"))


@pytest.fixture
def braced(queue_name: str) -> str:
    """The test's queue name in braces, so its keys share one Cluster slot."""
    return "{" + queue_name + "}"


async def test_a_worker_processes_jobs_over_tls_and_events_arrive(
    mode: Mode, tls_certificates: Certificates, braced: str
) -> None:
    url = mode.url(tls_certificates.query())
    done: asyncio.Queue[str] = asyncio.Queue()

    async def work(job: Job) -> int:
        done.put_nowait(job.id)
        return int(job.data["n"]) * 2

    async with Queue(braced, url=url) as queue, QueueEvents(braced, url=url) as events:
        jobs = await queue.add_bulk([{"name": "double", "data": {"n": n}} for n in range(5)])
        async with Worker(braced, work, url=url, concurrency=2, drain_delay=0.2):
            finished = {await done.get() for _ in jobs}
            completed: dict[str, object] = {}
            async with asyncio.timeout(30):  # only keeps a broken stream from hanging the test
                async for event in events:
                    if event.event == "completed" and event.job_id is not None:
                        completed[event.job_id] = event.return_value
                    if len(completed) == len(jobs):
                        break
        assert finished == {j.id for j in jobs}
        assert completed == {j.id: 2 * n for n, j in enumerate(jobs)}
        stored = await queue.get_job(jobs[3].id)
        assert stored is not None
        assert stored.return_value == 6
    # The jobs are on the server that holds the queue, reached over TLS only.
    port = mode.primary_of(f"bull:{braced}:{jobs[0].id}")
    assert cli(port, "EXISTS", f"bull:{braced}:{jobs[0].id}").strip() == "1"


@pytest.mark.parametrize("ca", ["system", "other"])
async def test_an_untrusted_server_certificate_is_refused_with_the_fix(
    mode: Mode, tls_certificates: Certificates, braced: str, ca: str
) -> None:
    """Verification is on by default: neither the system's CAs nor a CA that did not
    sign the server's certificate let corral talk to it."""
    query = tls_certificates.query(ca=tls_certificates.other_ca)
    if ca == "system":
        query = query.partition("&")[2]  # the client certificate only, no ssl_ca_certs
    message = await _refusal(mode.url(query), braced)
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "certificate is not trusted: name the CA that signed it with ssl_ca_certs=" in message


async def test_ssl_cert_reqs_none_skips_verification(
    mode: Mode, tls_certificates: Certificates, braced: str
) -> None:
    query = tls_certificates.query(ca=tls_certificates.other_ca) + "&ssl_cert_reqs=none"
    async with Queue(braced, url=mode.url(query)) as queue:
        job = await queue.add("unverified", {"ok": True})
        assert await queue.get_job_state(job.id) == "waiting"


async def test_a_server_that_wants_a_client_certificate_refuses_one_without(
    mode: Mode, tls_certificates: Certificates, braced: str
) -> None:
    message = await _refusal(mode.url(tls_certificates.query(client=False)), braced)
    assert "ssl_certfile=" in message
    assert "ssl_keyfile=" in message


async def test_the_command_timeout_and_keepalive_hold_over_tls(
    mode: Mode, tls_certificates: Certificates, braced: str
) -> None:
    connections = Connections(mode.url(tls_certificates.query() + "&socket_timeout=1"))
    redis = connections.shared
    key = f"bull:{braced}:timeout"
    try:
        assert await redis.execute("SET", key, "1") == "OK"
        # Every TCP connection this process has to the servers probes an idle peer.
        sockets = _sockets_to(mode.ports)
        assert sockets
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1 for s in sockets)
        # A server that stops answering: the command fails once socket_timeout
        # passes with no reply, however long the server stays silent.
        primary = mode.primary_of(key)
        cli(primary, "CLIENT", "PAUSE", "2500", "ALL")
        async with asyncio.timeout(30):  # only keeps a broken timeout from hanging the test
            with pytest.raises(RedisConnectionError, match=r"did not answer within 1s"):
                await redis.execute("INCR", key)
        await asyncio.to_thread(cli, primary, "PING")  # answered once the pause is over
        # The next command connects again and is answered (the INCR may have run).
        assert await redis.execute("GET", key) in ("1", "2")
    finally:
        await connections.close()


async def test_a_certificate_for_another_host_is_refused_unless_host_checks_are_off(
    tls_server: int, tls_certificates: Certificates, queue_name: str
) -> None:
    other_host = f"rediss://127.0.0.2:{tls_server}/0?{tls_certificates.query()}"
    message = await _refusal(other_host, queue_name)
    assert "does not name the host of the URL" in message
    assert "ssl_check_hostname=false" in message
    async with Queue(queue_name, url=f"{other_host}&ssl_check_hostname=false") as queue:
        job = await queue.add("checked-chain-only", {})
        assert await queue.get_job_state(job.id) == "waiting"


async def test_a_plain_url_to_tls_servers_says_to_use_rediss(mode: Mode, braced: str) -> None:
    plain = mode.url("").replace("rediss", "redis", 1).removesuffix("?")
    message = await _refusal(plain, braced)
    assert "if it speaks TLS on this port, use rediss://" in message


async def test_a_tls_url_to_a_plain_port_says_it_is_not_tls(
    redis_url: str, tls_certificates: Certificates, queue_name: str
) -> None:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    query = f"ssl_ca_certs={tls_certificates.ca}&socket_connect_timeout=0.5"
    message = await _refusal(f"rediss://127.0.0.1:{port}/0?{query}", queue_name)
    assert "no answer within 0.5s (socket_connect_timeout)" in message
    assert "is this the server's tls-port?" in message


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("ssl_cert_reqs=none&ssl_check_hostname=true", "leave out ssl_cert_reqs=none, or"),
        ("ssl_check_hostname=maybe", "ssl_check_hostname is true or false, not 'maybe'"),
        ("ssl_keyfile={client_key}", "give ssl_certfile too"),
        ("ssl_certfile={client_cert}", "a file without the key needs ssl_keyfile"),
        ("ssl_certfile={client_cert}&ssl_keyfile={server_key}", "KEY_VALUES_MISMATCH"),
        ("ssl_ca_certs={client_key}", "cannot read the CA file ssl_ca_certs="),
        ("ssl_ca_certs={missing}", "cannot read the CA file ssl_ca_certs="),
    ],
)
@pytest.mark.parametrize("scheme", ["rediss", "rediss+cluster", "rediss+sentinel"])
def test_tls_parameters_that_cannot_work_are_refused_before_connecting(
    tls_certificates: Certificates, scheme: str, query: str, problem: str
) -> None:
    files = {
        "client_key": tls_certificates.client_key,
        "client_cert": tls_certificates.client_cert,
        "server_key": tls_certificates.server_key,
        "missing": tls_certificates.ca.with_name("missing.crt"),
    }
    service = "/corral" if scheme.endswith("sentinel") else ""
    url = f"{scheme}://127.0.0.1:1{service}?{query.format(**files)}"
    with pytest.raises(ConfigurationError, match="bad Redis URL") as caught:
        Connections(url)
    assert problem in str(caught.value)


async def test_a_tls_url_to_a_peer_answering_in_plain_text_says_it_is_not_tls(
    queue_name: str,
) -> None:
    """A plain-text service on the port (a proxy, another program) answers the TLS
    handshake with text of its own."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"-ERR this port speaks plain text\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        message = await _refusal(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none", queue_name)
    assert "WRONG_VERSION_NUMBER" in message
    assert (
        "the server did not answer in TLS: is this its tls-port? (plain TCP: redis://)" in message
    )


async def test_a_tls_server_that_hangs_up_before_answering_suggests_a_client_certificate(
    tls_certificates: Certificates, queue_name: str
) -> None:
    """How a TLS 1.3 server that wants a client certificate often refuses one: the
    handshake completes, then the connection closes before the first reply."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_certificates.server_cert, tls_certificates.server_key)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    async with server:
        port = server.sockets[0].getsockname()[1]
        url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tls_certificates.ca}"
        message = await _refusal(url, queue_name)
    assert "closed the TLS connection before its first reply" in message
    assert "give ssl_certfile= and ssl_keyfile=" in message


async def _refusal(url: str, queue_name: str) -> str:
    """The message of the error that adding a job at ``url`` fails with."""
    async with Queue(queue_name, url=url) as queue:
        with pytest.raises(StoreUnavailableError) as caught:
            await queue.add("never", {})
    return str(caught.value)


def _sockets_to(ports: list[int]) -> list[socket.socket]:
    """The open TCP sockets of this process whose peer is one of ``ports`` on loopback."""
    found = []
    for candidate in gc.get_objects():
        if isinstance(candidate, socket.socket) and candidate.fileno() != -1:
            try:
                host, port = candidate.getpeername()[:2]
            except (OSError, ValueError, TypeError):
                continue
            if host == "127.0.0.1" and port in ports:
                found.append(candidate)
    return found
