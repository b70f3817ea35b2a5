"""Security: JSON only, no code from the store; ACL users work; secrets never shown."""

from __future__ import annotations

import ast
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral
from corral import CorralError, Queue, QueueEvents, Worker
from corral.backends import open_backend
from tests.conftest import (
    _free_port,
    _wait_for_port,
    service_missing,
    start_redis_server,
    stop_redis_server,
)
from tests.tls import Certificates

SECRET = "s3cr3t-Pa55word"
FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def test_no_module_can_run_code_read_from_a_store() -> None:
    root = Path(corral.__file__).parent
    found: list[str] = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names = [node.func.id] if node.func.id in FORBIDDEN_CALLS else []
            else:
                continue
            for name in names:
                if name in FORBIDDEN_MODULES or name in FORBIDDEN_CALLS:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    assert not found, found


@pytest.fixture(scope="module")
def acl_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = start_redis_server(
        tmp_path_factory.mktemp("acl"),
        extra=["--user", "default", "off",
               "--user", "corral", "on", f">{SECRET}", "~bull:*", "&*", "+@all", "-@dangerous",
               "+info", "+client"],
    )  # fmt: skip
    try:
        yield server.port
    finally:
        stop_redis_server(server)


async def test_an_acl_user_with_a_password_works_and_is_never_shown(
    acl_port: int, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"redis://corral:{SECRET}@127.0.0.1:{acl_port}/0"
    async with (
        Queue(queue_name, url=url) as queue,
        Worker(queue_name, url=url, drain_delay=0.2) as worker,
    ):
        await queue.add("x", {"n": 1})
        job = await worker.get_next_job("tok")
        assert job is not None
        await job.move_to_completed("ok", "tok", fetch_next=False)
        assert (await queue.get_job_counts("completed")) == {"completed": 1}
        events = QueueEvents(queue_name, url=url)
        shown = [repr(queue), queue.url, repr(worker), worker.url, repr(queue.backend)]
        shown += [repr(events), str(getattr(events, "url", ""))]
        for text in shown:
            assert SECRET not in text, text
        assert "corral" in queue.url
    assert SECRET not in caplog.text


@pytest.mark.parametrize("password", ["wrong-" + SECRET, SECRET + "x"])
async def test_a_wrong_password_is_an_error_without_the_password(
    acl_port: int, queue_name: str, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"redis://corral:{password}@127.0.0.1:{acl_port}/0"
    async with Queue(queue_name, url=url) as queue:
        with pytest.raises(CorralError) as caught:
            await queue.add("x", {})
    text = f"{caught.value!s} {caught.value!r} {caught.value.__cause__!r}"
    assert password not in text
    assert password not in caplog.text


def test_a_url_with_a_password_is_masked_in_a_configuration_error() -> None:
    with pytest.raises(CorralError) as caught:
        open_backend(f"mysql://u:{SECRET}@h/db")
    assert SECRET not in str(caught.value)


@pytest.fixture(scope="module")
def tls_server(
    tls_certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    """A redis-server speaking only TLS, with a throwaway CA; yields (port, CA file)."""
    exe = shutil.which("redis-server")
    if exe is None:
        service_missing("redis-server is needed for the TLS test")
    assert exe is not None
    workdir = tmp_path_factory.mktemp("tls")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         *tls_certificates.server_args(auth_clients=False), "--save", "", "--dir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        try:
            _wait_for_port(port, proc, time.monotonic() + 10)
        except RuntimeError:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            if "tls" in output.lower() and ("not" in output.lower() or "unknown" in output.lower()):
                pytest.skip(f"this redis-server was built without TLS: {output.strip()[:200]}")
            raise
        yield port, tls_certificates.ca
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_rediss_urls_use_tls_and_verify_the_server(
    tls_server: tuple[int, Path], queue_name: str
) -> None:
    port, ca = tls_server
    url = f"rediss://localhost:{port}/0?ssl_ca_certs={ca}"
    async with Queue(queue_name, url=url) as queue, Worker(queue_name, url=url) as worker:
        added = await queue.add("over-tls", {"secret": "payload"})
        job = await worker.get_next_job("tok")
        assert job is not None
        assert job.data == {"secret": "payload"}
        await job.move_to_completed("ok", "tok", fetch_next=False)
        assert await queue.get_job_state(added.id) == "completed"
    # Without the CA the server's certificate is not trusted: no connection.
    async with Queue(queue_name, url=f"rediss://localhost:{port}/0") as untrusted:
        with pytest.raises(CorralError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.add("x", {})
    # Plain redis:// to a TLS-only port is refused too, never silently unencrypted.
    async with Queue(queue_name, url=f"redis://localhost:{port}/0") as plain:
        with pytest.raises(CorralError):
            await plain.add("x", {})
