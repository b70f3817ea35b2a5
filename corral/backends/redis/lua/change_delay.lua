--[[
  change_delay: run a delayed job a new time from now (Node's changeDelay).

  KEYS[1]  delayed           ZSET    the job's new due time
  KEYS[2]  marker            ZSET    delay marker for the earliest due time
  KEYS[3]  meta              HASH    opts.maxLenEvents
  KEYS[4]  events            STREAM  event log
  KEYS[5]  completed         ZSET    KEYS[5..11]: read only for the state a
  KEYS[6]  failed            ZSET    refusal reports
  KEYS[7]  prioritized       ZSET
  KEYS[8]  active            LIST
  KEYS[9]  wait              LIST
  KEYS[10] paused            LIST
  KEYS[11] waiting-children  ZSET
  KEYS[12] job               HASH    the job

  ARGV[1]  job id
  ARGV[2]  delay (ms from now, >= 0): stored as the job's `delay`
  ARGV[3]  now (epoch ms, the caller's)

  Returns 0; else a refusal, having changed nothing: -1 no job, {-3, state} not delayed.
  Event: delayed (jobId, delay = the due time, epoch ms).
]]
--- @include "queue"

local Q = {delayed = KEYS[1], marker = KEYS[2], meta = KEYS[3], events = KEYS[4]}
local id, job_key = ARGV[1], KEYS[12]
local delay, now = tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
if not redis.call("ZSCORE", Q.delayed, id) then
  local S = {
    completed = KEYS[5], failed = KEYS[6], delayed = Q.delayed, prioritized = KEYS[7],
    active = KEYS[8], wait = KEYS[9], paused = KEYS[10], waiting_children = KEYS[11],
  }
  return {-3, job_state(S, job_key, id)}
end
redis.call("ZREM", Q.delayed, id)
local due = now + delay
redis.call("ZADD", Q.delayed, delayed_score(Q, due), id)
redis.call("HSET", job_key, "delay", delay)
emit(Q, read_meta(Q.meta), "delayed", "jobId", id, "delay", due)
add_delay_marker(Q)
return 0
