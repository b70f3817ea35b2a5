--[[
  reprocess_job: run a completed or failed job again.

  KEYS[1]  wait         LIST    plain jobs (LPUSH back, RPUSH front for lifo)
  KEYS[2]  prioritized  ZSET    prioritized jobs
  KEYS[3]  pc           STRING  priority counter
  KEYS[4]  active       LIST    read for the global concurrency check
  KEYS[5]  marker       ZSET    wake-up marker
  KEYS[6]  meta         HASH    queue settings
  KEYS[7]  events       STREAM  event log
  KEYS[8]  completed         ZSET    the job leaves it (ARGV[2] "completed")
  KEYS[9]  failed            ZSET    the job leaves it (ARGV[2] "failed")
  KEYS[10] delayed           ZSET    KEYS[10..12]: read only for the state a
  KEYS[11] paused            LIST    refusal reports
  KEYS[12] waiting-children  ZSET
  KEYS[13] job               HASH    the job

  ARGV[1]  job id
  ARGV[2]  state the job must be in: "completed" | "failed" (its sorted set
           suffix); any other is refused like a job in the wrong state
  ARGV[3]  "1" to reset attempts made and started, "0" to keep them

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
local id, state, job_key = ARGV[1], ARGV[2], KEYS[13]
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
local finished_in = ({completed = KEYS[8], failed = KEYS[9]})[state]
if not finished_in or redis.call("ZREM", finished_in, id) == 0 then
  local S = {
    completed = KEYS[8], failed = KEYS[9], delayed = KEYS[10], prioritized = Q.prioritized,
    active = Q.active, wait = Q.wait, paused = KEYS[11], waiting_children = KEYS[12],
  }
  return {-3, job_state(S, job_key, id)}
end
local M = read_meta(Q.meta)
local parent = parent_of(job_key)
if parent then
  back_to_dependencies(parent, job_key, state)
end
local result_field = state == "failed" and "failedReason" or "returnvalue"
redis.call("HDEL", job_key, "finishedOn", "processedOn", result_field)
if ARGV[3] == "1" then
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
