--[[
  extend_locks: extend_lock for many jobs in one step.

  KEYS[1]  stalled  SET  stalled candidates (extended jobs leave it)

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  duration (ms)
  ARGV[3..] job id, token, job id, token, ...

  Returns the ids whose lock is gone or held by another token.
]]

local base, duration = ARGV[1], ARGV[2]
local failed = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local lock_key = base .. id .. ":lock"
  if redis.call("GET", lock_key) == token then
    redis.call("SET", lock_key, token, "PX", duration)
    redis.call("SREM", KEYS[1], id)
  else
    failed[#failed + 1] = id
  end
end
return failed
