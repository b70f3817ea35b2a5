--[[
  move_to_finished: complete or fail an active job whose lock the token holds,
  apply retention, and optionally fetch the next job in the same step.

  KEYS[1]  wait         LIST    read for `drained`; fetch source
  KEYS[2]  active       LIST    the job leaves it
  KEYS[3]  prioritized  ZSET    fetch source
  KEYS[4]  pc           STRING  priority counter
  KEYS[5]  delayed      ZSET    promoted on fetch
  KEYS[6]  marker       ZSET    wake-up marker
  KEYS[7]  meta         HASH    queue settings
  KEYS[8]  events       STREAM  event log (each event added trims it)
  KEYS[9]  limiter      STRING  rate-limit counter
  KEYS[10] stalled      SET     stalled candidates (the job leaves it)
  KEYS[11] completed    ZSET    finished ids, score finishedOn
  KEYS[12] failed       ZSET    failed ids, score finishedOn
  KEYS[13] id           STRING  job id counter (a deduplicated job kept aside is added)
  KEYS[14] metrics:completed       HASH  per-minute metrics (see includes/metrics.lua)
  KEYS[15] metrics:completed:data  LIST
  KEYS[16] metrics:failed          HASH
  KEYS[17] metrics:failed:data     LIST
  KEYS[18] paused       LIST    read for a refusal's state
  KEYS[19] waiting-children  ZSET  read for a refusal's state
  KEYS[20] job               HASH    the job
  KEYS[21] job:lock          STRING  its lock
  KEYS[22] job:logs          LIST    removed with the job
  KEYS[23] job:dependencies  SET     its pending children (completing: must be empty)
  KEYS[24] job:processed     HASH    removed with the job
  KEYS[25] job:failed        HASH    removed with the job
  KEYS[26] job:unsuccessful  ZSET    its failed children (completing: must be empty)
  (several jobs finished in one call: each job's 7 keys in turn, the n-th job's
  from KEYS[20 + 7 (n - 1)])

  ARGV[1]  base key "<prefix>:<queue>:"
  then, for each job in turn, 17 values (the n-th job's from ARGV[2 + 17 (n - 1)];
  numbered here for the first):
  ARGV[2]  job id
  ARGV[3]  token that must hold the lock
  ARGV[4]  now (epoch ms, the caller's): finishedOn, retention age, the fetch's now
  ARGV[5]  "completed" | "failed"
  ARGV[6]  return value (JSON text) | failure reason
  ARGV[7]  stacktrace (JSON array text; failed only)
  ARGV[8]  keep count: -1 all, 0 remove this job now, n newest n
  ARGV[9]  keep age (ms; "" = no age limit): remove jobs finished before now - age
  ARGV[10] attempts option, for `retries-exhausted` ("" = no such event: the
           job is failed unread, see RedisBackend's unreadable-job path)
  ARGV[11] metrics: how many minutes of per-minute counts to keep ("" = none
           recorded, as a Node worker without `metrics`)
  ARGV[12] "1" to fetch the next job, "0" not
  ARGV[13..18] fetch: token, lock ms, limiter max, limiter window ms, worker
           name, the highest delayed score due by now ((now + 1) * 4096 - 1)
           (present, "" when not fetching)

  Keys found inside the script are built from the base key and share the
  queue's slot: the job fetched next, old jobs removed by retention, and the
  keys named by the job's own fields (its deduplication key, its parent's keys;
  on a Redis Cluster a flow's queues share one braced prefix).

  A child's parent (from the child's `parent` field, see includes/flow.lua) is
  updated before the child's retention: completed, the child moves to the
  parent's processed bucket; failed, its failure flag says what happens;
  removed at once (keep 0), it leaves the pending children.

  Several jobs in one call are finished one after the other, exactly as that
  many calls in a row would: each job's reply is its own, and a refusal for one
  leaves the others' finishing as it is.

  Returns an array with one reply per job, in order. A job's reply is a refusal,
  having changed nothing for that job: completing only, first: -4 pending
  children, -9 a child failed this job; then -1 no job, {-2, state} no lock,
  -6 lock held by another token, {-3, state} not active; else 0 when not
  fetching, or the fetch reply {job fields | 0, id | 0, rate limit ms, next
  delayed due ms}.
  Events: completed (jobId, returnvalue, prev active) | failed (jobId,
  failedReason, prev active) [+ retries-exhausted (jobId, attemptsMade)];
  drained when no job is left; the fetch's events. A job kept aside for the
  finished job's deduplication id (keepLastIfActive) is added: its events.

  The common path (no children, no parent, no deduplication id, no retention
  to apply) runs inline; everything else is in `lib()`, built on first need.
]]
--- @include "core"
--- @include "metrics"

-- The helpers of the less common paths, built on first need.
local L
local function lib()
  if not L then
    L = (function()
--- @include "flow"
--- @include "dedup"
      return {
        job_state = job_state,
        promote_due = promote_due,
        parent_from_fields = parent_from_fields,
        parent_of = parent_of,
        on_child_failed = on_child_failed,
        on_child_completed = on_child_completed,
        drop_dependency = drop_dependency,
        remove_job_keys = remove_job_keys,
        dedup_requeue = dedup_requeue,
      }
    end)()
  end
  return L
end
--- @include "fetch"

local Q = {
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], pc = KEYS[4], delayed = KEYS[5],
  marker = KEYS[6], meta = KEYS[7], events = KEYS[8], limiter = KEYS[9], stalled = KEYS[10],
  id = KEYS[13],
}
local base = ARGV[1]
-- The queue's settings, read once: finishing a job changes none of them.
local M = read_meta(Q.meta)

-- Finish the job whose keys start at KEYS[k] and whose values start at ARGV[a];
-- returns that job's reply.
local function finish(k, a)
  local job_key, lock_key = KEYS[k], KEYS[k + 1]
  local id, token, now_arg = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local failed = ARGV[a + 3] == "failed"
  -- A refusal carrying the job's state, read from the declared keys (see
  -- includes/state.lua).
  local function refuse(code)
    local S = {
      completed = KEYS[11], failed = KEYS[12], delayed = KEYS[5], prioritized = KEYS[3],
      active = KEYS[2], wait = KEYS[1], paused = KEYS[18], waiting_children = KEYS[19],
    }
    return {code, lib().job_state(S, job_key, id)}
  end

  -- Refusals, in this order; each leaves everything as it was.
  if not failed and redis.call("EXISTS", KEYS[k + 3], KEYS[k + 6]) ~= 0 then
    -- Empty sets are no keys: one look for the common case, a job with no children.
    if redis.call("SCARD", KEYS[k + 3]) ~= 0 then
      return -4
    end
    if redis.call("ZCARD", KEYS[k + 6]) ~= 0 then
      return -9
    end
  end
  -- The fields the finish needs, and whether there is a job: an active job has a
  -- processedOn, so only a hash without one is looked for.
  local fields = redis.call("HMGET", job_key, "processedOn", "deid", "parentKey", "parent")
  if not fields[1] and redis.call("EXISTS", job_key) == 0 then
    return -1
  end
  local holder = redis.call("GET", lock_key)
  if holder ~= token then
    if not holder then
      return refuse(-2)
    end
    return -6
  end
  if redis.call("LREM", Q.active, "-1", id) == 0 then
    return refuse(-3)
  end
  redis.call("SREM", Q.stalled, id)

  local now = tonumber(now_arg)
  local value = ARGV[a + 4]
  local keep_count, keep_age = tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
  local finished = failed and KEYS[12] or KEYS[11]

  -- The attempt counts, but a completed job removed at once has no hash to count it
  -- in; such a job's lock goes with its other keys below.
  local attempts_made = 0
  if failed or keep_count ~= 0 then
    redis.call("DEL", lock_key)
    attempts_made = bump(job_key, "atm")
  end

  local parent = nil
  if fields[2] or fields[3] or fields[4] then
    local F = lib()
    -- A deduplication key without expiry lasts while its job is unfinished.
    local dedup_id = fields[2]
    if dedup_id then
      local dedup_key = base .. "de:" .. dedup_id
      if redis.call("GET", dedup_key) == id and redis.call("PTTL", dedup_key) == -1 then
        redis.call("DEL", dedup_key)
      end
      F.dedup_requeue(Q, M, base, dedup_id, now)
    end
    parent = F.parent_from_fields(fields[3], fields[4])
    if parent then
      if failed then
        F.on_child_failed(parent, job_key, value, now)
      else
        F.on_child_completed(parent, job_key, value, now)
      end
    end
  end

  if keep_count == 0 then
    redis.call("DEL", job_key, lock_key, KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5],
      KEYS[k + 6])
    if parent then
      lib().drop_dependency(parent, job_key, now)
    end
  else
    redis.call("ZADD", finished, now_arg, id)
    if failed then
      redis.call("HSET", job_key, "failedReason", value, "stacktrace", ARGV[a + 5],
        "finishedOn", now_arg)
      redis.call("HDEL", job_key, "defa")
    else
      redis.call("HSET", job_key, "returnvalue", value, "finishedOn", now_arg)
    end
    local function remove_finished(ids)
      if #ids > 0 then
        local F = lib()
        for _, old in ipairs(ids) do
          local old_key = base .. old
          local old_parent = F.parent_of(old_key)
          if old_parent then
            F.drop_dependency(old_parent, old_key, now)
          end
          F.remove_job_keys(old_key)
        end
        redis.call("ZREM", finished, unpack(ids))
      end
    end
    if keep_age then
      -- "(" makes the bound exclusive: only jobs finished *more* than age ms ago.
      local cutoff = "(" .. string.format("%d", now - keep_age)
      remove_finished(redis.call("ZRANGEBYSCORE", finished, "-inf", cutoff, "LIMIT", "0", "1000"))
    end
    if keep_count > 0 then
      remove_finished(redis.call("ZREVRANGE", finished, keep_count, keep_count + 999))
    end
  end

  if failed then
    emit(Q, M, "failed", "jobId", id, "failedReason", value, "prev", "active")
    local attempts = tonumber(ARGV[a + 8])
    if attempts and attempts_made >= attempts then
      emit(Q, M, "retries-exhausted", "jobId", id, "attemptsMade", attempts_made)
    end
  else
    emit(Q, M, "completed", "jobId", id, "returnvalue", value, "prev", "active")
  end

  local max_points = tonumber(ARGV[a + 9])
  if max_points and max_points > 0 then
    if failed then
      count_finished(KEYS[16], KEYS[17], max_points, now)
    else
      count_finished(KEYS[14], KEYS[15], max_points, now)
    end
  end

  local reply = 0
  if ARGV[a + 10] == "1" then
    reply = fetch_job(Q, M, base, a + 11, now_arg)
    if reply[2] ~= 0 then
      return reply
    end
  end
  -- Nothing left to hand out or being processed.
  if redis.call("LLEN", Q.wait) == 0 and redis.call("LLEN", Q.active) == 0
    and redis.call("ZCARD", Q.prioritized) == 0 then
    emit(Q, M, "drained")
  end
  return reply
end

local replies = {}
for n = 0, (#ARGV - 1) / 17 - 1 do
  replies[n + 1] = finish(20 + 7 * n, 2 + 17 * n)
end
flush_metrics({KEYS[14], KEYS[16]})
return replies
