--[[
  move_to_delayed: put an active job in delayed until a time without using an
  attempt (Node's job.moveToDelayed, the step-job pattern).

  KEYS[1]  active   LIST    the job leaves it
  KEYS[2]  stalled  SET     stalled candidates (the job leaves it)
  KEYS[3]  delayed  ZSET    the job's due time
  KEYS[4]  marker   ZSET    delay marker for the earliest due time
  KEYS[5]  meta     HASH    opts.maxLenEvents
  KEYS[6]  events   STREAM  event log

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  token that must hold the job's lock
  ARGV[4]  delay (ms from now, >= 0): stored as the job's `delay`
  ARGV[5]  now (epoch ms, the caller's)

  Returns 0; else a refusal, having changed nothing: -1 no job, {-2, state} no
  lock, -6 another token's lock, {-3, state} not active.
  Event: delayed (jobId, delay = the due time, epoch ms).
]]
--- @include "queue"

local Q = {
  active = KEYS[1], stalled = KEYS[2], delayed = KEYS[3], marker = KEYS[4], meta = KEYS[5],
  events = KEYS[6],
}
local base, id, token = ARGV[1], ARGV[2], ARGV[3]
local delay, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local refused = take_from_active(Q, base, id, token)
if refused ~= 0 then
  return refused
end
local due = now + delay
redis.call("ZADD", Q.delayed, delayed_score(Q, due), id)
redis.call("HSET", base .. id, "delay", delay)
emit(Q, read_meta(Q.meta), "delayed", "jobId", id, "delay", due)
add_delay_marker(Q)
return 0
