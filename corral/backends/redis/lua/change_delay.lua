--[[
  change_delay: run a delayed job a new time from now (Node's changeDelay).

  KEYS[1]  delayed  ZSET    the job's new due time
  KEYS[2]  marker   ZSET    delay marker for the earliest due time
  KEYS[3]  meta     HASH    opts.maxLenEvents
  KEYS[4]  events   STREAM  event log

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  delay (ms from now, >= 0): stored as the job's `delay`
  ARGV[4]  now (epoch ms, the caller's)

  Returns 0; else a refusal, having changed nothing: -1 no job, {-3, state} not delayed.
  Event: delayed (jobId, delay = the due time, epoch ms).
]]
--- @include "queue"

local Q = {delayed = KEYS[1], marker = KEYS[2], meta = KEYS[3], events = KEYS[4]}
local base, id = ARGV[1], ARGV[2]
local delay, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local job_key = base .. id
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
if not redis.call("ZSCORE", Q.delayed, id) then
  return refuse_with_state(-3, base, id)
end
redis.call("ZREM", Q.delayed, id)
local due = now + delay
redis.call("ZADD", Q.delayed, delayed_score(Q, due), id)
redis.call("HSET", job_key, "delay", delay)
emit(Q, read_meta(Q.meta), "delayed", "jobId", id, "delay", due)
add_delay_marker(Q)
return 0
