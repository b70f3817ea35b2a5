"""FlowProducer: add trees of jobs whose parents wait for their children.

```python
from corral import FlowProducer

async with FlowProducer(url=...) as flow:
    node = await flow.add({
        "name": "render-video", "queue_name": "render", "data": {"id": 7},
        "children": [
            {"name": "transcode", "queue_name": "media", "data": {"res": 1080}},
            {"name": "thumbnail", "queue_name": "media",
             "options": {"fail_parent_on_failure": True}},
        ],
    })
```

A node with children starts in ``waiting-children`` and runs once every child
has finished, with ``await job.get_children_values()`` giving ``{child key:
return value}``. Nodes may live in any queue (and under any prefix) of the
store. A tree is a :class:`FlowJob` or a mapping with the same keys; its
``options`` are ``Queue.add``'s. Every node gets an id before anything is sent:
its ``job_id`` option, else a random UUID (as Node BullMQ), so adding the same
tree with custom ids again changes nothing.

The whole tree (or, with :meth:`FlowProducer.add_bulk`, every tree) is checked
first: bad input raises ``TypeError`` / ``ValueError`` naming the node's path
(``flow.children[1]``, ``flows[2].children[0].children[3]``) and nothing is
written; then it is added in one atomic step.

On Redis the layout is BullMQ 6's, so Node and corral workers finish each
other's flows. On a Redis Cluster every queue of one flow must hash to one slot:
give them all one braced prefix, such as ``{app}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral import _clock, otel
from corral._client import StoreClient
from corral.backends.base import Backend, FlowEntry, JobRecord, NewJob
from corral.connection import SharedConnection
from corral.errors import ParentConflictError, ParentNotFoundError
from corral.job import Job, JobMover
from corral.options import ParentRef, new_job, qualify_parent, validate_queue_name

__all__ = ["FlowJob", "FlowNode", "FlowProducer", "FlowTree"]

_NODE_KEYS = ("name", "queue_name", "data", "options", "children", "prefix")


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowJob:
    """One node of a flow: a job, and the children it waits for.

    ``options`` are ``Queue.add``'s (by name); ``parent`` only on the root, to hang
    the whole tree under an existing job. ``prefix`` None: the producer's.
    """

    name: str
    queue_name: str
    data: Any = None
    options: Mapping[str, Any] | None = None
    children: Sequence[FlowJob | Mapping[str, Any]] = ()
    prefix: str | None = None


FlowTree = FlowJob | Mapping[str, Any]
"""A flow as :meth:`FlowProducer.add` takes it: a :class:`FlowJob`, or a mapping with
its keys (``name``, ``queue_name``, ``data``, ``options``, ``children``, ``prefix``)."""


@dataclass(frozen=True, slots=True)
class FlowNode:
    """A job of a flow and its child nodes (an empty tuple for a leaf)."""

    job: Job
    children: tuple[FlowNode, ...] = ()


@dataclass(slots=True)
class _Planned:
    path: str
    prefix: str
    queue: str
    spec: NewJob
    is_root: bool
    children: list[int]


def _fields(node: object, path: str) -> dict[str, Any]:
    """A node's fields, checked for shape (not yet for values)."""
    if isinstance(node, FlowJob):
        return {key: getattr(node, key) for key in _NODE_KEYS}
    if not isinstance(node, Mapping):
        raise TypeError(
            f"{path}: a flow node must be a FlowJob or a mapping with 'name' and "
            f"'queue_name', not {type(node).__name__}"
        )
    unknown = sorted(str(k) for k in node if k not in _NODE_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; a node has {', '.join(_NODE_KEYS)}")
    for needed in ("name", "queue_name"):
        if needed not in node:
            raise ValueError(f"{path}: the node has no {needed!r}")
    return {
        "name": node["name"],
        "queue_name": node["queue_name"],
        "data": node.get("data"),
        "options": node.get("options"),
        "children": node.get("children") or (),
        "prefix": node.get("prefix"),
    }


def plan(trees: Sequence[tuple[str, object]], prefix: str, now_ms: int) -> list[_Planned]:
    """Check every node of ``trees`` (``(path, tree)`` pairs) and encode it, parents
    before their children; raises naming the node's path. Nothing is written."""
    planned: list[_Planned] = []
    owners: dict[tuple[str, str, str], str] = {}
    # (node, path, index of its parent in `planned`), depth first, children in order.
    stack: list[tuple[object, str, int | None]] = [(t, p, None) for p, t in reversed(trees)]
    while stack:
        node, path, parent_index = stack.pop()
        fields = _fields(node, path)
        name, queue = fields["name"], fields["queue_name"]
        if not isinstance(name, str):
            raise TypeError(f"{path}: name must be a string, not {type(name).__name__}")
        try:
            validate_queue_name(queue)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
        node_prefix = prefix if fields["prefix"] is None else fields["prefix"]
        if not isinstance(node_prefix, str) or not node_prefix:
            raise ValueError(f"{path}: prefix must be a non-empty string such as 'bull'")
        options = fields["options"]
        if options is None:
            options = {}
        elif not isinstance(options, Mapping):
            raise TypeError(
                f"{path}: options must be a mapping of Queue.add's options, "
                f"not {type(options).__name__}"
            )
        options = dict(options)
        children = fields["children"]
        if isinstance(children, str | bytes | Mapping) or not isinstance(children, Sequence):
            raise TypeError(
                f"{path}: children must be a list of nodes, not {type(children).__name__}"
            )
        try:
            if parent_index is None:
                if options.get("parent") is not None:
                    options["parent"] = qualify_parent(options["parent"], node_prefix)
            elif options.get("parent") is not None:
                raise ValueError(
                    "only the root of a flow may name a parent; a child's parent is its node"
                )
            else:
                above = planned[parent_index]
                options["parent"] = ParentRef(
                    above.spec.job_id or "", f"{above.prefix}:{above.queue}"
                )
            if options.get("job_id") is None:
                options["job_id"] = str(uuid.uuid4())
            if options.get("deduplication") is not None:
                raise ValueError("deduplication is not taken in a flow: add the job with Queue.add")
            spec = new_job(name, fields["data"], options, now_ms=now_ms)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
        assert spec.job_id is not None
        owner = owners.setdefault((node_prefix, queue, spec.job_id), path)
        if owner != path:
            raise ValueError(
                f"{path}: job id {spec.job_id!r} in queue {queue!r} is also the id of {owner}; "
                "every node needs its own id (one id twice would make a cycle)"
            )
        index = len(planned)
        planned.append(_Planned(path, node_prefix, queue, spec, parent_index is None, []))
        if parent_index is not None:
            planned[parent_index].children.append(index)
        for number in range(len(children) - 1, -1, -1):
            stack.append((children[number], f"{path}.children[{number}]", index))
    return planned


class FlowProducer(StoreClient):
    """Adds flows to a store: ``url``, ``prefix`` and ``connection`` as for
    :class:`~corral.Queue` (``url=None``: ``$CORRAL_URL``, else ``sqlite:///corral.db``)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        prefix: str = "bull",
        connection: SharedConnection | None = None,
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix must be a non-empty string such as 'bull'")
        super().__init__(url=url, prefix=prefix, connection=connection)
        self._shared: dict[str, Backend] = {prefix: self._backend}
        self._movers: dict[tuple[str, str], JobMover] = {}

    @property
    def prefix(self) -> str:
        """The prefix of the flows' queues unless a node names its own."""
        return self._prefix

    def _mover(self, prefix: str, queue: str) -> JobMover:
        mover = self._movers.get((prefix, queue))
        if mover is None:
            backend = self._shared.get(prefix)
            if backend is None:
                backend = self._shared[prefix] = self._backend.share(prefix)
            mover = self._movers[prefix, queue] = JobMover(backend, queue)
        return mover

    # -- adding ---------------------------------------------------------------------

    async def add(self, flow: FlowTree) -> FlowNode:
        """Add one tree in one atomic step; return its root node (``node.job``,
        ``node.children``). Raises (naming the node) before anything is written for
        bad input; :class:`~corral.ParentNotFoundError` if the root's ``parent`` does
        not exist; :class:`~corral.ParentConflictError` if a node's custom id exists
        with another parent that still exists."""
        (node,) = await self._add([("flow", flow)], bulk=False)
        return node

    async def add_bulk(self, flows: Iterable[FlowTree]) -> list[FlowNode]:
        """Add several trees in one atomic step (all or none); return their roots."""
        if isinstance(flows, Mapping | FlowJob):
            raise TypeError("add_bulk takes a list of flows; use add() for one")
        return await self._add([(f"flows[{i}]", tree) for i, tree in enumerate(flows)], bulk=True)

    async def _add(self, trees: list[tuple[str, object]], *, bulk: bool) -> list[FlowNode]:
        if not trees:
            return []
        now = _clock.now_ms()
        planned = plan(trees, self._prefix, now)
        entries = [
            FlowEntry(p.queue, p.spec, None if p.prefix == self._prefix else p.prefix)
            for p in planned
        ]
        try:
            # Traced only with the otel extra (corral.otel): otherwise this is all it costs.
            if otel.ENABLED:
                parents: list[int | None] = [None] * len(planned)
                for index, p in enumerate(planned):
                    for child in p.children:
                        parents[child] = index
                ids = await otel.add_flow(self._backend, entries, parents, now, bulk=bulk)
            else:
                ids = await self._backend.add_flow(entries, now)
        except (ParentNotFoundError, ParentConflictError) as exc:
            if exc.index is None:
                raise
            named = type(exc)(f"{planned[exc.index].path}: {exc}", job_id=exc.job_id,
                              operation=exc.operation)  # fmt: skip
            named.index, named.parent_key = exc.index, exc.parent_key
            raise named from None
        built: dict[int, FlowNode] = {}
        for index in range(len(planned) - 1, -1, -1):  # children before their parents
            p = planned[index]
            spec = p.spec
            record = JobRecord(
                id=ids[index], name=spec.name, data=spec.data, opts=spec.opts,
                timestamp_ms=spec.timestamp_ms, delay_ms=spec.delay_ms,
                priority=spec.priority, parent=spec.parent,
            )  # fmt: skip
            job = Job(self._mover(p.prefix, p.queue), record)
            built[index] = FlowNode(job, tuple(built[i] for i in p.children))
        return [built[i] for i, p in enumerate(planned) if p.is_root]

    # -- reading ----------------------------------------------------------------------

    async def get_flow(
        self,
        *,
        job_id: str,
        queue_name: str,
        prefix: str | None = None,
        depth: int = 10,
        max_children: int = 20,
    ) -> FlowNode | None:
        """The tree under a job, ``depth`` levels deep (1: the job alone), at most
        ``max_children`` children per bucket of each parent (processed, then
        unprocessed, failed, ignored); None if there is no such job. Children that
        no longer exist are left out."""
        validate_queue_name(queue_name)
        for name, value in (("depth", depth), ("max_children", max_children)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, not {value!r}")
        prefix = self._prefix if prefix is None else prefix
        mover = self._mover(prefix, queue_name)
        record = await mover.backend.get_job(queue_name, job_id)
        if record is None:
            return None
        return await self._node(mover, record, depth, max_children)

    async def _node(self, mover: JobMover, record: JobRecord, depth: int, limit: int) -> FlowNode:
        job = Job(mover, record)
        if depth <= 1:
            return FlowNode(job)
        page = await mover.backend.get_dependencies(mover.queue, record.id, limit=limit)
        children: list[FlowNode] = []
        for key in (*page.processed, *page.unprocessed, *page.failed, *page.ignored):
            rest, _, child_id = key.rpartition(":")
            child_prefix, _, child_queue = rest.rpartition(":")
            if not child_prefix or not child_queue or not child_id:
                continue
            child_mover = self._mover(child_prefix, child_queue)
            child = await child_mover.backend.get_job(child_queue, child_id)
            if child is not None:
                children.append(await self._node(child_mover, child, depth - 1, limit))
        return FlowNode(job, tuple(children))

    def __repr__(self) -> str:
        return f"FlowProducer(url={self.url!r}, prefix={self._prefix!r})"
