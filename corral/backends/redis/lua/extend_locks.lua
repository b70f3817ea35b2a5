--[[
  extend_locks: extend_lock for many jobs in one step.

  KEYS[1]  stalled  SET  stalled candidates (extended jobs leave it)

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  duration (ms)
  ARGV[3..] job id, token, job id, token, ...

  Returns the locks not extended as a flat list: job id, code, job id, code ...
  with extend_lock's codes (-1 no job, -2 no lock, -6 another token's lock).
]]

local base, duration = ARGV[1], ARGV[2]
local refused = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local lock_key = base .. id .. ":lock"
  local holder = redis.call("GET", lock_key)
  if holder == token then
    redis.call("SET", lock_key, token, "PX", duration)
    redis.call("SREM", KEYS[1], id)
  else
    local code = -6
    if redis.call("EXISTS", base .. id) == 0 then
      code = -1
    elseif not holder then
      code = -2
    end
    refused[#refused + 1] = id
    refused[#refused + 1] = code
  end
end
return refused
