--[[
  get_rate_limit_ttl: ms left on the queue's rate limit, for a worker without a
  limiter of its own: limited by rate_limit (the sentinel value) or by the
  global limit in meta (`max`).

  KEYS[1]  limiter  STRING  rate-limit counter, PX = window
  KEYS[2]  meta     HASH    `max`: global jobs per window

  Returns ms (0 when not limited).
]]
--- @include "queue"

local max_jobs = tonumber(redis.call("HGET", KEYS[2], "max"))
return rate_limit_ttl({limiter = KEYS[1]}, max_jobs)
