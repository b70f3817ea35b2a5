--[[
  reprocess_job: run a completed or failed job again.

  KEYS[1]  wait         LIST    plain jobs (LPUSH back, RPUSH front for lifo)
  KEYS[2]  prioritized  ZSET    prioritized jobs
  KEYS[3]  pc           STRING  priority counter
  KEYS[4]  active       LIST    read for the global concurrency check
  KEYS[5]  marker       ZSET    wake-up marker
  KEYS[6]  meta         HASH    queue settings
  KEYS[7]  events       STREAM  event log

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  state the job must be in: "completed" | "failed" (its sorted set
           suffix); any other is refused like a job in the wrong state
  ARGV[4]  "1" to reset attempts made and started, "0" to keep them

  A child that had left its existing parent's pending children goes back into
  them (includes/flow.lua); the parent is not moved.

  Returns 0; else a refusal, having changed nothing: -1 no job, {-3, state}
  not in that state.
  Event: waiting (jobId, prev state).
]]
--- @include "flow"

local Q = {
  wait = KEYS[1], prioritized = KEYS[2], pc = KEYS[3], active = KEYS[4], marker = KEYS[5],
  meta = KEYS[6], events = KEYS[7],
}
local base, id, state = ARGV[1], ARGV[2], ARGV[3]
local job_key = base .. id
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
local finished = state == "completed" or state == "failed"
if not finished or redis.call("ZREM", base .. state, id) == 0 then
  return refuse_with_state(-3, base, id)
end
local M = read_meta(Q.meta)
local parent = parent_of(job_key)
if parent then
  back_to_dependencies(parent, job_key, state)
end
local result_field = state == "failed" and "failedReason" or "returnvalue"
redis.call("HDEL", job_key, "finishedOn", "processedOn", result_field)
if ARGV[4] == "1" then
  redis.call("HDEL", job_key, "atm", "attemptsMade", "ats")
end
local fields = redis.call("HMGET", job_key, "priority", "opts")
local ok, opts = pcall(cjson.decode, fields[2] or "{}")
local lifo = ok and type(opts) == "table" and opts["lifo"] == true
enqueue(Q, id, tonumber(fields[1]) or 0, lifo)
if not paused_or_maxed(Q, M) then
  add_base_marker(Q)
end
emit(Q, M, "waiting", "jobId", id, "prev", state)
return 0
