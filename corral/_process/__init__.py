"""Process workers: a worker whose processor runs in child processes.

``Worker(queue, "myapp.tasks:resize", processes=4)`` keeps everything that talks
to the store in the worker's own process (the *parent*): fetching, the locks and
their renewal, the stalled check, finishing jobs, the hooks. The children only
run the processor, one job at a time each, so a child that is CPU-bound for
minutes never loses its job's lock: the parent renews it.

Who owns what:

| | parent (the worker process) | child |
|---|---|---|
| store connection | yes, the only one | none |
| locks, renewals, stalled check | yes | no |
| the processor | no | imports it by its ``module:function`` path and runs it |
| ``job.update_progress`` / ``job.log`` / ``job.get_logs`` / ``job.get_state`` | carries them out | asks the parent over its pipe |
| timeouts, cancel, crashes, recycling | decides, kills, replaces | is killed |

The two ends speak JSON frames over a socket pair (:mod:`corral._process.wire`);
no user data is pickled. Children are started from a ``forkserver`` (safe with
the parent's threads, and fast: the server has the processor's module imported
already). A child never outlives its parent: a thread in the child exits the
process when the parent's end of the pipe closes, and on Linux the child also
asks the kernel (``PR_SET_PDEATHSIG``) to be killed when its parent goes.

Modules: :mod:`~corral._process.target` (which processors can run in a child),
:mod:`~corral._process.wire` (the frames), :mod:`~corral._process.child` (the
child's side), :mod:`~corral._process.pool` (the parent's side).
"""
