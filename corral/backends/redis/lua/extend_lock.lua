--[[
  extend_lock: compare-and-set a job's lock to expire `duration` ms from now
  (PX: by the server's clock).

  KEYS[1]  stalled  SET  stalled candidates (the job leaves it: it is alive)

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  token that must hold the lock
  ARGV[4]  duration (ms)

  Returns 0 when extended; else a refusal, having changed nothing: -1 no job,
  {-2, state} no lock (expired, or the job finished), -6 another token's lock.
]]
--- @include "state"

local base, id, token = ARGV[1], ARGV[2], ARGV[3]
local lock_key = base .. id .. ":lock"
local holder = redis.call("GET", lock_key)
if holder == token then
  redis.call("SET", lock_key, token, "PX", ARGV[4])
  redis.call("SREM", KEYS[1], id)
  return 0
end
if redis.call("EXISTS", base .. id) == 0 then
  return -1
end
if not holder then
  return refuse_with_state(-2, base, id)
end
return -6
