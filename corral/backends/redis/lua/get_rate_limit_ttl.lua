--[[
  get_rate_limit_ttl: ms left on the queue's rate limit, for a worker without a
  limiter of its own: limited by rate_limit (the sentinel value) or by the
  global limit in meta (`max`).

  KEYS[1]  limiter  STRING  rate-limit counter, PX = window
  KEYS[2]  meta     HASH    `max`: global jobs per window

  Returns ms (0 when not limited).
]]

local value = tonumber(redis.call("GET", KEYS[1]))
if not value then
  return 0
end
local max_jobs = tonumber(redis.call("HGET", KEYS[2], "max"))
if value >= 9007199254740991 or (max_jobs and value >= max_jobs) then
  local ttl = redis.call("PTTL", KEYS[1])
  if ttl > 0 then
    return ttl
  end
end
return 0
