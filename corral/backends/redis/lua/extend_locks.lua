--[[
  extend_locks: extend_lock for many jobs in one step.

  KEYS[1]  stalled  SET  stalled candidates (extended jobs leave it)
  KEYS[2..] each job's hash and lock, in pairs, in ARGV's order: job hash,
           job lock, job hash, job lock, ...

  ARGV[1]  duration (ms)
  ARGV[2..] job id, token, job id, token, ... (the job of ARGV[2i] has
           KEYS[2i] and KEYS[2i + 1])

  Returns the locks not extended as a flat list: job id, code, job id, code ...
  with extend_lock's codes (-1 no job, -2 no lock, -6 another token's lock).
]]

local duration = ARGV[1]
local refused = {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local lock_key = KEYS[i + 1]
  local holder = redis.call("GET", lock_key)
  if holder == token then
    redis.call("SET", lock_key, token, "PX", duration)
    redis.call("SREM", KEYS[1], id)
  else
    local code = -6
    if redis.call("EXISTS", KEYS[i]) == 0 then
      code = -1
    elseif not holder then
      code = -2
    end
    refused[#refused + 1] = id
    refused[#refused + 1] = code
  end
end
return refused
