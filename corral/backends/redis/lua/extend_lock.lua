--[[
  extend_lock: compare-and-set a job's lock to expire `duration` ms from now.

  KEYS[1]  stalled  SET  stalled candidates (the job leaves it: it is alive)

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  token that must hold the lock
  ARGV[4]  duration (ms)

  Returns 1 when extended, 0 when the lock is gone or held by another token.
]]

local lock_key = ARGV[1] .. ARGV[2] .. ":lock"
if redis.call("GET", lock_key) == ARGV[3] then
  redis.call("SET", lock_key, ARGV[3], "PX", ARGV[4])
  redis.call("SREM", KEYS[1], ARGV[2])
  return 1
end
return 0
