--[[
  move_jobs_to_wait: put up to `limit` finished or delayed jobs in wait,
  oldest first (Node's moveJobsToWait: queue.retryJobs / promoteJobs), in
  batches (the caller repeats while a batch is full).

  KEYS[1]  completed    ZSET    by finishedOn
  KEYS[2]  failed       ZSET    by finishedOn
  KEYS[3]  delayed      ZSET    by due time
  KEYS[4]  wait         LIST    every moved job (LPUSH)
  KEYS[5]  active       LIST    read for the global concurrency check
  KEYS[6]  marker       ZSET    wake-up marker
  KEYS[7]  meta         HASH    queue settings
  KEYS[8]  events       STREAM  event log

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  state: "completed" | "failed" | "delayed"
  ARGV[3]  before (epoch ms): completed / failed jobs that finished at or before it
           (ignored for delayed: every delayed job qualifies)
  ARGV[4]  limit (> 0)

  A finished job loses finishedOn, processedOn and its return value or failed
  reason (attempts are kept) and a child goes back into its parent's pending
  children, as reprocess_job; a delayed job's delay becomes 0. As Node's
  moveJobsToWait, every job goes to wait, oldest first behind the jobs already
  there, whatever its priority or lifo option (the job keeps its priority field).

  Returns how many jobs moved.
  Event: waiting (jobId, prev state) per job.
]]
--- @include "flow"

local Q = {wait = KEYS[4], active = KEYS[5], marker = KEYS[6], meta = KEYS[7], events = KEYS[8]}
local base, state, limit = ARGV[1], ARGV[2], tonumber(ARGV[4])
local set, ids
if state == "completed" then
  set = KEYS[1]
elseif state == "failed" then
  set = KEYS[2]
elseif state == "delayed" then
  set = KEYS[3]
else
  return redis.error_reply("move_jobs_to_wait: unknown state " .. tostring(state))
end
if state == "delayed" then
  ids = redis.call("ZRANGE", set, 0, limit - 1)
else
  ids = redis.call("ZRANGEBYSCORE", set, "-inf", tonumber(ARGV[3]), "LIMIT", 0, limit)
end
if #ids == 0 then
  return 0
end
for from = 1, #ids, 5000 do
  redis.call("ZREM", set, unpack(ids, from, math.min(from + 4999, #ids)))
end
local M = read_meta(Q.meta)
local result_field = state == "failed" and "failedReason" or "returnvalue"
for _, id in ipairs(ids) do
  local job_key = base .. id
  if state == "delayed" then
    redis.call("HSET", job_key, "delay", 0)
  else
    local parent = parent_of(job_key)
    if parent then
      back_to_dependencies(parent, job_key, state)
    end
    redis.call("HDEL", job_key, "finishedOn", "processedOn", result_field)
  end
  redis.call("LPUSH", Q.wait, id)
  emit(Q, M, "waiting", "jobId", id, "prev", state)
end
if not paused_or_maxed(Q, M) then
  add_base_marker(Q)
end
return #ids
