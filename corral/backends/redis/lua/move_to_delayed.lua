--[[
  move_to_delayed: put an active job in delayed until a time without using an
  attempt (Node's job.moveToDelayed, the step-job pattern).

  KEYS[1]  active   LIST    the job leaves it
  KEYS[2]  stalled  SET     stalled candidates (the job leaves it)
  KEYS[3]  delayed  ZSET    the job's due time
  KEYS[4]  marker   ZSET    delay marker for the earliest due time
  KEYS[5]  meta     HASH    opts.maxLenEvents
  KEYS[6]  events   STREAM  event log
  KEYS[7]  completed         ZSET    KEYS[7..12]: read only for the state a
  KEYS[8]  failed            ZSET    refusal reports
  KEYS[9]  prioritized       ZSET
  KEYS[10] wait              LIST
  KEYS[11] paused            LIST
  KEYS[12] waiting-children  ZSET
  KEYS[13] job               HASH    the job
  KEYS[14] job:lock          STRING  its lock (released)

  ARGV[1]  job id
  ARGV[2]  token that must hold the job's lock
  ARGV[3]  delay (ms from now, >= 0): stored as the job's `delay`
  ARGV[4]  now (epoch ms, the caller's)

  Returns 0; else a refusal, having changed nothing: -1 no job, {-2, state} no
  lock, -6 another token's lock, {-3, state} not active.
  Event: delayed (jobId, delay = the due time, epoch ms).
]]
--- @include "queue"
--- @include "job"

local Q = {
  active = KEYS[1], stalled = KEYS[2], delayed = KEYS[3], marker = KEYS[4], meta = KEYS[5],
  events = KEYS[6],
}
local id, token = ARGV[1], ARGV[2]
local delay, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local S = {
  completed = KEYS[7], failed = KEYS[8], delayed = Q.delayed, prioritized = KEYS[9],
  active = Q.active, wait = KEYS[10], paused = KEYS[11], waiting_children = KEYS[12],
}
local J = {hash = KEYS[13], lock = KEYS[14]}
local refused = take_job_from_active(Q, S, J, id, token)
if refused ~= 0 then
  return refused
end
local due = now + delay
redis.call("ZADD", Q.delayed, delayed_score(Q, due), id)
redis.call("HSET", J.hash, "delay", delay)
emit(Q, read_meta(Q.meta), "delayed", "jobId", id, "delay", due)
add_delay_marker(Q)
return 0
