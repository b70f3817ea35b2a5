--[[
  extend_lock: compare-and-set a job's lock to expire `duration` ms from now
  (PX: by the server's clock).

  KEYS[1]  stalled           SET     stalled candidates (the job leaves it: it is alive)
  KEYS[2]  completed         ZSET    KEYS[2..9]: read only for the state a refusal
  KEYS[3]  failed            ZSET    reports
  KEYS[4]  delayed           ZSET
  KEYS[5]  prioritized       ZSET
  KEYS[6]  active            LIST
  KEYS[7]  wait              LIST
  KEYS[8]  paused            LIST
  KEYS[9]  waiting-children  ZSET
  KEYS[10] job               HASH    the job
  KEYS[11] job:lock          STRING  its lock: the holder's token, PX = duration

  ARGV[1]  job id
  ARGV[2]  token that must hold the lock
  ARGV[3]  duration (ms)

  Returns 0 when extended; else a refusal, having changed nothing: -1 no job,
  {-2, state} no lock (expired, or the job finished), -6 another token's lock.
]]
--- @include "state"

local id, token = ARGV[1], ARGV[2]
local job_key, lock_key = KEYS[10], KEYS[11]
local holder = redis.call("GET", lock_key)
if holder == token then
  redis.call("SET", lock_key, token, "PX", ARGV[3])
  redis.call("SREM", KEYS[1], id)
  return 0
end
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
if not holder then
  local S = {
    completed = KEYS[2], failed = KEYS[3], delayed = KEYS[4], prioritized = KEYS[5],
    active = KEYS[6], wait = KEYS[7], paused = KEYS[8], waiting_children = KEYS[9],
  }
  return {-2, job_state(S, job_key, id)}
end
return -6
