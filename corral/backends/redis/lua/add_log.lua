--[[
  add_log: append a line to a job's log (the LIST "<job key>:logs").

  No queue keys.

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  the line
  ARGV[4]  keep: only the newest n lines stay ("" = keep all)

  Returns how many lines the job has, or -1 when the job does not exist.
]]

local job_key = ARGV[1] .. ARGV[2]
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
local logs_key = job_key .. ":logs"
local count = redis.call("RPUSH", logs_key, ARGV[3])
local keep = tonumber(ARGV[4])
if keep and count > keep then
  redis.call("LTRIM", logs_key, -keep, -1)
  count = keep
end
return count
