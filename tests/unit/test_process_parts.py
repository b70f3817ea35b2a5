"""The in-process parts of process workers: frames, processor paths, exit words."""

from __future__ import annotations

import re
import signal
import socket
import sys
import types
from typing import Any

import pytest

from corral import ChildJobError, Worker
from corral._process import wire
from corral._process.pool import describe_exit
from corral._process.target import load_target, resolve_target
from corral.backends.base import JobRecord, ParentLink
from corral.backends.flow_types import ParentPolicy
from corral.errors import RateLimitError, UnrecoverableError, WaitingChildrenError


def test_a_frame_round_trips_through_a_socket_pair_and_eof_reads_as_none() -> None:
    ours, theirs = socket.socketpair()
    link = wire.BlockingLink(theirs)
    frame = wire.encode_frame({"t": "job", "text": "héllo"})
    ours.sendall(frame)
    assert link.receive() == {"t": "job", "text": "héllo"}
    link.send({"t": "done"})
    header = ours.recv(wire.HEADER_SIZE)
    assert wire.decode_body(ours.recv(wire.body_length(header))) == {"t": "done"}
    ours.sendall(frame[:7])  # a frame cut short by the other end closing
    ours.close()
    assert link.receive() is None
    link.close()


def test_a_frame_must_hold_an_object() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        wire.decode_body(b"[1, 2]")


def test_a_record_crosses_with_its_parent() -> None:
    record = JobRecord(
        "7", "n", '{"a":1}', "{}", 1, parent=ParentLink("bull:p", "3", ParentPolicy.FAIL_PARENT)
    )
    assert wire.record_from_payload(wire.record_payload(record)) == record
    plain = JobRecord("8", "n", "null", "{}", 1)
    assert wire.record_from_payload(wire.record_payload(plain)) == plain


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (UnrecoverableError("x"), "unrecoverable"),
        (RateLimitError(), "rate_limit"),
        (WaitingChildrenError(), "waiting_children"),
        (KeyError("k"), "error"),
    ],
)
def test_an_error_keeps_what_steers_the_job(error: Exception, kind: str) -> None:
    payload = wire.error_payload(error, "trace")
    assert payload["kind"] == kind
    assert payload["type"] == type(error).__qualname__
    assert payload["traceback"] == "trace"


def test_exits_are_said_in_words() -> None:
    assert describe_exit(None) == "ended"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-signal.SIGSEGV) == "was killed by SIGSEGV"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL (out of memory?)"
    assert describe_exit(-200) == "was killed by signal 200"


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("nocolon", "must look like 'package.module:function'"),
        (":f", "must look like"),
        ("tests.process_jobs:_ballast", "is not a function"),
        ("tests.process_jobs:spin.nope", "has no attribute"),
    ],
)
def test_a_bad_processor_path_says_what_is_wrong(spec: str, said: str) -> None:
    with pytest.raises((ValueError, TypeError), match=said):
        load_target(spec)


def _module_with(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def test_functions_a_child_could_not_import_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def impostor(job: Any) -> None:
        return None

    impostor.__module__ = "tests.process_jobs"
    impostor.__qualname__ = "spin"
    with pytest.raises(TypeError, match="is not this function"):
        resolve_target(impostor)

    def orphan(job: Any) -> None:
        return None

    orphan.__module__ = "no_such_module_loaded"
    orphan.__qualname__ = "orphan"
    with pytest.raises(TypeError, match="not importable"):
        resolve_target(orphan)

    def typed_in(job: Any) -> None:
        return None

    typed_in.__module__ = "__main__"
    typed_in.__qualname__ = "typed_in"
    monkeypatch.setitem(sys.modules, "__main__", _module_with("__main__", typed_in=typed_in))
    with pytest.raises(TypeError, match="interactive session"):
        resolve_target(typed_in)

    def make() -> Any:
        return lambda job: None

    with pytest.raises(TypeError, match="a lambda"):
        resolve_target(make())
    with pytest.raises(TypeError, match=re.escape("or 'package.module:function'")):
        resolve_target(42)


def test_a_top_level_function_resolves_to_its_path() -> None:
    from tests import process_jobs

    target, function = resolve_target(process_jobs.spin)
    assert target.spec == "tests.process_jobs:spin"
    assert function is process_jobs.spin


def test_a_worker_without_processes_refuses_what_is_not_a_processor() -> None:
    with pytest.raises(TypeError, match="processor must be a function"):
        Worker("q", 42, url="sqlite://:memory:")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pass the processor"):
        Worker("q", None, url="sqlite://:memory:", processes=2)


def test_a_child_job_error_names_the_original_class() -> None:
    error = ChildJobError("boom", type_name="KeyError")
    assert str(error) == "boom"
    assert error.type_name == "KeyError"
