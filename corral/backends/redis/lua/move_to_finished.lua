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

  ARGV[1]  base key "<prefix>:<queue>:"
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
  ARGV[11] "1" to fetch the next job, "0" not
  ARGV[12..16] fetch: token, lock ms, limiter max, limiter window ms, worker name
  ARGV[17] metrics: how many minutes of per-minute counts to keep ("" or absent:
           none recorded, as a Node worker without `metrics`)

  A child's parent (keys derived from the child's `parent` field, see
  includes/flow.lua) is updated before the child's retention: completed, the
  child moves to the parent's processed bucket; failed, its failure flag says
  what happens; removed at once (keep 0), it leaves the pending children.

  Returns a refusal, having changed nothing: -1 no job; completing only, before
  the lock is looked at: -4 pending children, -9 a child failed this job;
  {-2, state} no lock, -6 lock held by another token, {-3, state} not active;
  else 0 when not
  fetching, or the fetch reply {job fields | 0, id | 0, rate limit ms, next
  delayed due ms}.
  Events: completed (jobId, returnvalue, prev active) | failed (jobId,
  failedReason, prev active) [+ retries-exhausted (jobId, attemptsMade)];
  drained when no job is left; the fetch's events. A job kept aside for the
  finished job's deduplication id (keepLastIfActive) is added: its events.
]]
--- @include "flow"
--- @include "dedup"
--- @include "metrics"

local Q = {
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], pc = KEYS[4], delayed = KEYS[5],
  marker = KEYS[6], meta = KEYS[7], events = KEYS[8], limiter = KEYS[9], stalled = KEYS[10],
  id = KEYS[13],
}
local base, id = ARGV[1], ARGV[2]
if ARGV[5] == "completed" then
  local blocked = completion_refused(base .. id)
  if blocked then
    return blocked
  end
end
local code = take_from_active(Q, base, id, ARGV[3])
if code ~= 0 then
  return code
end

local now = tonumber(ARGV[4])
local target, value = ARGV[5], ARGV[6]
local keep_count, keep_age = tonumber(ARGV[8]), tonumber(ARGV[9])
local failed = target == "failed"
local finished = failed and KEYS[12] or KEYS[11]
local M = read_meta(Q.meta)

local job_key = base .. id
-- The attempt counts, but a completed job removed at once has no hash to count it in.
local attempts_made = 0
if failed or keep_count ~= 0 then
  attempts_made = bump(job_key, "atm")
end

local fields = redis.call("HMGET", job_key, "deid", "parentKey", "parent")
-- A deduplication key without expiry lasts while its job is unfinished.
local dedup_id = fields[1]
if dedup_id then
  local dedup_key = base .. "de:" .. dedup_id
  if redis.call("GET", dedup_key) == id and redis.call("PTTL", dedup_key) == -1 then
    redis.call("DEL", dedup_key)
  end
  dedup_requeue(Q, M, base, dedup_id, now)
end

local parent = parent_from_fields(fields[2], fields[3])
if parent then
  if failed then
    on_child_failed(parent, job_key, value, now)
  else
    on_child_completed(parent, job_key, value, now)
  end
end

local function remove_finished(ids)
  if #ids > 0 then
    for _, old in ipairs(ids) do
      local old_parent = parent_of(base .. old)
      if old_parent then
        drop_dependency(old_parent, base .. old, now)
      end
      remove_job_keys(base .. old)
    end
    redis.call("ZREM", finished, unpack(ids))
  end
end

if keep_count == 0 then
  remove_job_keys(job_key)
  if parent then
    drop_dependency(parent, job_key, now)
  end
else
  redis.call("ZADD", finished, now, id)
  if failed then
    redis.call("HSET", job_key, "failedReason", value, "stacktrace", ARGV[7], "finishedOn", now)
    redis.call("HDEL", job_key, "defa")
  else
    redis.call("HSET", job_key, "returnvalue", value, "finishedOn", now)
  end
  if keep_age then
    -- "(" makes the bound exclusive: only jobs finished *more* than age ms ago.
    local cutoff = "(" .. string.format("%d", now - keep_age)
    remove_finished(redis.call("ZRANGEBYSCORE", finished, "-inf", cutoff, "LIMIT", 0, 1000))
  end
  if keep_count > 0 then
    remove_finished(redis.call("ZREVRANGE", finished, keep_count, keep_count + 999))
  end
end

if failed then
  emit(Q, M, "failed", "jobId", id, "failedReason", value, "prev", "active")
  local attempts = tonumber(ARGV[10])
  if attempts and attempts_made >= attempts then
    emit(Q, M, "retries-exhausted", "jobId", id, "attemptsMade", attempts_made)
  end
else
  emit(Q, M, "completed", "jobId", id, "returnvalue", value, "prev", "active")
end

local max_points = tonumber(ARGV[17] or "")
if max_points and max_points > 0 then
  if failed then
    collect_metrics(KEYS[16], KEYS[17], max_points, now)
  else
    collect_metrics(KEYS[14], KEYS[15], max_points, now)
  end
end

local reply = 0
if ARGV[11] == "1" then
  reply = fetch_next(Q, M, base, now, fetch_options(12))
  if reply[2] ~= 0 then
    return reply
  end
end
if is_drained(Q) then
  emit(Q, M, "drained")
end
return reply
