"""Hostile flows: every bad tree raises TypeError / ValueError naming the node's path,
before anything is written (the store holds no queue afterwards), on both backends."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from corral import FlowJob, FlowProducer, ParentNotFoundError, Queue


@pytest.fixture
def fresh_prefix() -> str:
    """A prefix no other test uses, so "the store holds no queue" means this test's store."""
    return f"fuzz-{uuid.uuid4().hex[:10]}"


def tree(*children: Any, **root: Any) -> dict[str, Any]:
    return {"name": "root", "queue_name": "q", **root, "children": list(children)}


def kid(**fields: Any) -> dict[str, Any]:
    return {"name": "kid", "queue_name": "q", **fields}


BAD_TREES: list[tuple[Any, type[Exception], str]] = [
    (["not", "a", "mapping"], TypeError, "flow: a flow node must be a FlowJob or a mapping"),
    ("root", TypeError, "flow: a flow node must be"),
    (tree(kid(), 7), TypeError, r"flow.children\[1\]: a flow node must be"),
    (tree(kid(), {"name": "kid"}), ValueError, r"flow.children\[1\]: the node has no 'queue_name'"),
    ({"queue_name": "q"}, ValueError, "flow: the node has no 'name'"),
    (tree(kid(queue_name="a:b")), ValueError, r"flow.children\[0\]: queue name 'a:b' must not"),
    (tree(kid(queue_name="")), ValueError, r"flow.children\[0\]: queue name must not be empty"),
    (tree(kid(name=5)), TypeError, r"flow.children\[0\]: name must be a string"),
    (tree(kid(colour="red")), ValueError, r"flow.children\[0\]: unknown key\(s\) \['colour'\]"),
    (
        tree(kid(options={"bogus": 1})),
        TypeError,
        r"flow.children\[0\]: unknown job option\(s\) \['bogus'\]",
    ),
    (tree(kid(options={"priority": -1})), ValueError, r"flow.children\[0\]: priority must be"),
    (tree(kid(options=["priority"])), TypeError, r"flow.children\[0\]: options must be a mapping"),
    (tree(kid(data={1, 2})), TypeError, r"flow.children\[0\]: job data must be JSON-encodable"),
    (
        tree(kid(options={"fail_parent_on_failure": True, "remove_dependency_on_failure": True})),
        ValueError,
        r"flow.children\[0\]: the options fail_parent_on_failure, remove_dependency_on_failure "
        "cannot be used together",
    ),
    (
        tree(kid(options={"parent": {"id": "x", "queue": "bull:q"}})),
        ValueError,
        r"flow.children\[0\]: only the root of a flow may name a parent",
    ),
    (tree(kid(children="kids")), TypeError, r"flow.children\[0\]: children must be a list"),
    (tree(kid(prefix="")), ValueError, r"flow.children\[0\]: prefix must be a non-empty"),
    (
        # A "cycle" through custom ids: the child has the root's id in the root's queue.
        tree(kid(options={"job_id": "same"}), options={"job_id": "same"}),
        ValueError,
        r"flow.children\[0\]: job id 'same' in queue 'q' is also the id of flow; every node",
    ),
    (
        tree(kid(children=[kid(options={"job_id": "twice"})]), kid(options={"job_id": "twice"})),
        ValueError,
        r"flow.children\[1\]: job id 'twice' in queue 'q' is also the id of flow.children\[0\].children\[0\]",
    ),
    (
        tree(kid(options={"parent": "p"}), options={"parent": "p"}),
        TypeError,
        "flow: parent must be",
    ),
]


@pytest.mark.parametrize(("flow", "error", "message"), BAD_TREES)
async def test_a_bad_tree_names_the_node_and_writes_nothing(
    url: str, fresh_prefix: str, flow: Any, error: type[Exception], message: str
) -> None:
    async with FlowProducer(url=url, prefix=fresh_prefix) as producer:
        with pytest.raises(error, match=message):
            await producer.add(flow)
        assert await producer.backend.list_queues() == []


async def test_one_bad_tree_in_a_bulk_add_writes_none_of_them(url: str, fresh_prefix: str) -> None:
    async with FlowProducer(url=url, prefix=fresh_prefix) as producer:
        good = tree(kid())
        with pytest.raises(
            ValueError, match=re.escape("flows[1].children[0]: the node has no 'name'")
        ):
            await producer.add_bulk([good, tree({"queue_name": "q"})])
        with pytest.raises(TypeError, match="add_bulk takes a list of flows"):
            await producer.add_bulk(good)  # type: ignore[arg-type]
        # A duplicate id across two trees of one call is refused too.
        twin = {"name": "root", "queue_name": "q", "options": {"job_id": "dup"}}
        with pytest.raises(ValueError, match=r"flows\[1\]: job id 'dup'"):
            await producer.add_bulk([twin, twin])
        assert await producer.backend.list_queues() == []


async def test_a_missing_parent_of_the_root_writes_nothing_and_names_the_node(
    url: str, fresh_prefix: str
) -> None:
    async with FlowProducer(url=url, prefix=fresh_prefix) as producer:
        orphan = FlowJob(
            name="root",
            queue_name="q",
            options={"parent": {"id": "nope", "queue": "bull:parents"}},
            children=[FlowJob(name="kid", queue_name="q")],
        )
        with pytest.raises(
            ParentNotFoundError, match="flow: parent job 'bull:parents:nope'"
        ) as caught:
            await producer.add(orphan)
        assert caught.value.parent_key == "bull:parents:nope"
        assert await producer.backend.list_queues() == []


async def test_get_flow_refuses_bad_arguments(url: str, fresh_prefix: str) -> None:
    async with FlowProducer(url=url, prefix=fresh_prefix) as producer, Queue("q", url=url):
        with pytest.raises(ValueError, match="depth must be a whole number >= 1"):
            await producer.get_flow(job_id="1", queue_name="q", depth=0)
        with pytest.raises(ValueError, match="max_children must be"):
            await producer.get_flow(job_id="1", queue_name="q", max_children=True)
        with pytest.raises(ValueError, match="must not contain ':'"):
            await producer.get_flow(job_id="1", queue_name="a:b")
