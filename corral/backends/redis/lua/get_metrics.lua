--[[
  get_metrics: a queue's per-minute metrics of completed or failed jobs, as
  BullMQ's workers record them (see includes/metrics.lua).

  KEYS[1]  metrics:completed       HASH  count, prevTS, prevCount
  KEYS[2]  metrics:completed:data  LIST  jobs per minute, newest first
  KEYS[3]  metrics:failed          HASH
  KEYS[4]  metrics:failed:data     LIST

  ARGV[1]  "completed" | "failed"
  ARGV[2]  start, ARGV[3] end: the data points [start, end] (LRANGE's rules)

  Returns {{count, prevTS, prevCount} (false where unset), {points}, number of points}.
]]
local meta, data = KEYS[1], KEYS[2]
if ARGV[1] == "failed" then
  meta, data = KEYS[3], KEYS[4]
end
return {
  redis.call("HMGET", meta, "count", "prevTS", "prevCount"),
  redis.call("LRANGE", data, ARGV[2], ARGV[3]),
  redis.call("LLEN", data),
}
