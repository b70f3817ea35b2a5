--[[
  cancel_job: cancel one job. A job waiting (wait or paused), prioritized,
  delayed or in waiting-children fails at once, no retry; an active job is
  marked (its `defa` field holds the reason) for the worker holding it, which
  reads the mark with get_cancel_requests and stops it; if that worker is gone,
  the job stalls back and its next fetch fails it with the reason. A completed,
  failed or missing job is left as it is.

  KEYS[1]  wait              LIST    a waiting job leaves it
  KEYS[2]  paused            LIST    legacy twin of wait
  KEYS[3]  active            LIST    read for the state
  KEYS[4]  prioritized       ZSET    a prioritized job leaves it
  KEYS[5]  delayed           ZSET    a delayed job leaves it
  KEYS[6]  waiting-children  ZSET    a waiting parent leaves it
  KEYS[7]  completed         ZSET    read for the state; retention
  KEYS[8]  failed            ZSET    the cancelled job enters it, score now
  KEYS[9]  meta              HASH    queue settings
  KEYS[10] events            STREAM  event log
  KEYS[11] job               HASH    the job
  KEYS[12] job:lock          STRING  its lock
  KEYS[13] job:logs          LIST    its log lines
  KEYS[14] job:dependencies  SET     its pending children (flows)
  KEYS[15] job:processed     HASH    its completed children
  KEYS[16] job:failed        HASH    its ignored failed children
  KEYS[17] job:unsuccessful  ZSET    its failed children
  (The job's keys are all removed when ARGV[5] is 0.)

  ARGV[1]  base key "<prefix>:<queue>:" (of the keys found in the job's hash and of
           the old failed jobs that retention removes)
  ARGV[2]  job id
  ARGV[3]  failed reason ("cancelled: ...")
  ARGV[4]  now (epoch ms, the caller's): finishedOn, retention age
  ARGV[5]  keep count for failed jobs: -1 all, 0 remove this job now, n newest n
  ARGV[6]  keep age (ms; "" = no age limit)

  Returns the state the job was in ("unknown" when there is no such job).
  Events: cancelled (jobId, reason, prev state) for a waiting, prioritized,
  delayed, waiting-children or active job; then, unless it was active, failed
  (jobId, failedReason, prev state).
]]
--- @include "flow"
--- @include "job"

local Q = {
  wait = KEYS[1], paused = KEYS[2], active = KEYS[3], prioritized = KEYS[4],
  delayed = KEYS[5], waiting_children = KEYS[6], completed = KEYS[7], failed = KEYS[8],
  meta = KEYS[9], events = KEYS[10],
}
local J = {
  hash = KEYS[11], lock = KEYS[12], logs = KEYS[13], dependencies = KEYS[14],
  processed = KEYS[15], failed = KEYS[16], unsuccessful = KEYS[17],
}
local job_key = J.hash
local base, id, reason, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local state = job_state(Q, job_key, id)
if state == "unknown" or state == "completed" or state == "failed" then
  return state
end
local M = read_meta(Q.meta)
emit(Q, M, "cancelled", "jobId", id, "reason", reason, "prev", state)
if state == "active" then
  redis.call("HSET", job_key, "defa", reason)
  return state
end

if state == "waiting" then
  if redis.call("LREM", Q.wait, 0, id) == 0 then
    redis.call("LREM", Q.paused, 0, id)
  end
elseif state == "waiting-children" then
  redis.call("ZREM", Q.waiting_children, id)
else
  redis.call("ZREM", Q[state], id)
end

-- A deduplication key without expiry lasts while its job is unfinished.
local dedup_id = redis.call("HGET", job_key, "deid")
if dedup_id then
  local dedup_key = base .. "de:" .. dedup_id
  if redis.call("GET", dedup_key) == id and redis.call("PTTL", dedup_key) == -1 then
    redis.call("DEL", dedup_key)
  end
end

local parent = parent_of(job_key)
if parent then
  on_child_failed(parent, job_key, reason, now)
end

local keep_count, keep_age = tonumber(ARGV[5]), tonumber(ARGV[6])
local function remove_failed(ids)
  for _, old in ipairs(ids) do
    local old_parent = parent_of(base .. old)
    if old_parent then
      drop_dependency(old_parent, base .. old, now)
    end
    remove_job_keys(base .. old)
  end
  if #ids > 0 then
    redis.call("ZREM", Q.failed, unpack(ids))
  end
end

if keep_count == 0 then
  delete_job(J)
  if parent then
    drop_dependency(parent, job_key, now)
  end
else
  redis.call("ZADD", Q.failed, now, id)
  redis.call("HSET", job_key, "failedReason", reason, "finishedOn", now)
  redis.call("HDEL", job_key, "defa")
  if keep_age then
    local cutoff = "(" .. string.format("%d", now - keep_age)
    remove_failed(redis.call("ZRANGEBYSCORE", Q.failed, "-inf", cutoff, "LIMIT", 0, 1000))
  end
  if keep_count > 0 then
    remove_failed(redis.call("ZREVRANGE", Q.failed, keep_count, keep_count + 999))
  end
end
emit(Q, M, "failed", "jobId", id, "failedReason", reason, "prev", state)
return state
