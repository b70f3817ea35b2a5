"""Cancelling jobs of a flow: a cancelled child is a failed child; a waiting parent
can be cancelled."""

from __future__ import annotations

from corral import CancelOutcome, FlowProducer, JobState, Queue
from tests.conformance.flows_support import Hands, flows, hands, take

__all__ = ["flows", "hands"]  # fixtures used here


async def test_a_cancelled_child_acts_on_its_parent_as_a_failure(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    node = await flows.add(
        {"name": "p", "queue_name": queue_name, "children": [
            {"name": "bad", "queue_name": kids, "options": {"fail_parent_on_failure": True}},
            {"name": "ok", "queue_name": kids}]}
    )  # fmt: skip
    parent, bad = node.job, node.children[0].job
    answer = await bad.cancel(reason="not needed")
    assert answer.outcome is CancelOutcome.CANCELLED
    assert await parent.get_state() is JobState.WAITING
    assert await hands(queue_name).get_next_job("t", block=False) is None
    failed = await queue.get_job(parent.id)
    assert failed is not None
    assert failed.failed_reason == f"child bull:{kids}:{bad.id} failed"


async def test_a_parent_waiting_for_children_can_be_cancelled(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    node = await flows.add(
        {"name": "p", "queue_name": queue_name, "children": [{"name": "c", "queue_name": kids}]}
    )
    parent = node.job
    answer = await queue.cancel(parent.id)
    assert answer.outcome is CancelOutcome.CANCELLED
    assert answer.state is JobState.WAITING_CHILDREN
    assert await parent.get_state() is JobState.FAILED
    # Its child still runs; completing it does not bring the parent back.
    child = await take(hands(kids), "c")
    await child.move_to_completed("done", child.token, fetch_next=False)
    assert await parent.get_state() is JobState.FAILED
