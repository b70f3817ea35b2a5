--[[
  remove_job_scheduler: remove a job scheduler and its pending delayed iteration.

  KEYS[1]  repeat       ZSET    scheduler ids by next run (ms)
  KEYS[2]  delayed      ZSET    delayed jobs
  KEYS[3]  events       STREAM  event log
  KEYS[4]  repeat:<id>  HASH    the scheduler's definition (deleted)
  The pending iteration's keys are derived in the script from its due time,
  read from KEYS[1].

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  scheduler id

  Returns 1 removed, 0 no such scheduler.
  Event: removed (jobId, prev delayed) for the iteration taken out of delayed.
]]
--- @include "queue"

local base, sid = ARGV[1], ARGV[2]
local due = redis.call("ZSCORE", KEYS[1], sid)
if due then
  local pending = "repeat:" .. sid .. ":" .. due
  if redis.call("ZREM", KEYS[2], pending) == 1 then
    remove_job_keys(base .. pending)
    redis.call("XADD", KEYS[3], "*", "event", "removed", "jobId", pending, "prev", "delayed")
  end
end
if redis.call("ZREM", KEYS[1], sid) == 1 then
  redis.call("DEL", KEYS[4])
  return 1
end
return 0
