--[[
  promote: move a delayed job into its line now.

  KEYS[1]  delayed      ZSET    the job leaves it
  KEYS[2]  wait         LIST    plain jobs (LPUSH = back of the line)
  KEYS[3]  prioritized  ZSET    prioritized jobs
  KEYS[4]  pc           STRING  priority counter
  KEYS[5]  active       LIST    read for the global concurrency check
  KEYS[6]  marker       ZSET    wake-up marker
  KEYS[7]  meta         HASH    queue settings
  KEYS[8]  events       STREAM  event log

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id

  Returns 0; else a refusal, having changed nothing: -1 no job, {-3, state}
  not delayed.
  Event: waiting (jobId, prev delayed).
]]
--- @include "queue"

local Q = {
  delayed = KEYS[1], wait = KEYS[2], prioritized = KEYS[3], pc = KEYS[4], active = KEYS[5],
  marker = KEYS[6], meta = KEYS[7], events = KEYS[8],
}
local id = ARGV[2]
local job_key = ARGV[1] .. id
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
if redis.call("ZREM", Q.delayed, id) == 0 then
  return refuse_with_state(-3, ARGV[1], id)
end
local M = read_meta(Q.meta)
enqueue(Q, id, job_priority(job_key), false)
redis.call("HSET", job_key, "delay", 0)
if not paused_or_maxed(Q, M) then
  add_base_marker(Q)
end
emit(Q, M, "waiting", "jobId", id, "prev", "delayed")
return 0
