"""Flows: a parent job that runs once its children are done, their values, failures and step jobs."""

import asyncio

from corral import FlowProducer, Job, Queue, WaitingChildrenError, Worker


async def main() -> None:
    # --8<-- [start:add]
    async with FlowProducer() as flow:
        node = await flow.add({
            "name": "render-video", "queue_name": "render", "data": {"video": 7},
            "options": {"job_id": "video-7"},
            "children": [
                {"name": "transcode", "queue_name": "media", "data": {"res": 1080},
                 "options": {"job_id": "video-7-1080p"}},
                {"name": "transcode", "queue_name": "media", "data": {"res": 720},
                 "options": {"job_id": "video-7-720p"}},
            ],
        })  # fmt: skip
        print(f"{node.job.id}: {await node.job.get_state()}, {len(node.children)} children")
    # --8<-- [end:add]

    # --8<-- [start:workers]
    async def transcode(job: Job) -> str:
        return f"{job.data['res']}p.mp4"

    async def render(job: Job) -> list[str]:
        values = await job.get_children_values()  # {"bull:media:<id>": value, ...}
        return sorted(str(value) for value in values.values())

    media = Worker("media", transcode, concurrency=2)
    renderer = Worker("render", render)
    done = asyncio.Event()
    renderer.on("completed", lambda job, value: done.set())
    async with media, renderer:
        await done.wait()
    # --8<-- [end:workers]

    render_queue = Queue("render")
    parent = await render_queue.get_job("video-7")
    assert parent is not None
    print(f"{parent.id}: {await parent.get_state()}, returned {parent.return_value}")

    # --8<-- [start:failure]
    async with FlowProducer() as flow:
        await flow.add({
            "name": "render-video", "queue_name": "render", "data": {"video": 8},
            "options": {"job_id": "video-8"},
            "children": [
                {"name": "transcode", "queue_name": "media", "data": {"res": 0},
                 "options": {"job_id": "video-8-broken", "fail_parent_on_failure": True}},
            ],
        })  # fmt: skip

    async def broken(job: Job) -> str:
        raise ValueError(f"cannot transcode to {job.data['res']}p")

    parent_failed = asyncio.Event()
    renderer = Worker("render", render)  # the parent fails when a worker takes it
    renderer.on("failed", lambda job, error: parent_failed.set())
    async with Worker("media", broken), renderer:
        await parent_failed.wait()
    parent = await render_queue.get_job("video-8")
    assert parent is not None
    print(f"{parent.id}: {await parent.get_state()} ({parent.failed_reason})")
    # --8<-- [end:failure]

    # --8<-- [start:steps]
    async def publish(job: Job) -> str:
        if (await job.get_dependencies_count()).processed == 0:  # first run: no child yet
            await Queue("media").add("transcode", {"res": 480}, parent=job)  # a child, added now
            if await job.move_to_waiting_children(job.token):
                raise WaitingChildrenError()  # runs again once the child is done; no attempt used
        return "published"

    await render_queue.add("publish", {"video": 9}, job_id="video-9")
    published = asyncio.Event()
    renderer = Worker("render", publish)
    renderer.on("completed", lambda job, value: published.set())
    async with Worker("media", transcode), renderer:
        await published.wait()
    parent = await render_queue.get_job("video-9")
    assert parent is not None
    print(f"{parent.id}: {await parent.get_state()} after {parent.attempts_made} attempt(s)")
    # --8<-- [end:steps]
    await render_queue.close()


if __name__ == "__main__":
    asyncio.run(main())
