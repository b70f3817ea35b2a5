--[[
  add_log: append a line to a job's log (the LIST "<job key>:logs").

  KEYS[1] job       HASH  the job
  KEYS[2] job:logs  LIST  its log lines

  ARGV[1]  the line
  ARGV[2]  keep: only the newest n lines stay ("" = keep all)

  Returns how many lines the job has, or -1 when the job does not exist.
]]

if redis.call("EXISTS", KEYS[1]) == 0 then
  return -1
end
local logs_key = KEYS[2]
local count = redis.call("RPUSH", logs_key, ARGV[1])
local keep = tonumber(ARGV[2])
if keep and count > keep then
  redis.call("LTRIM", logs_key, -keep, -1)
  count = keep
end
return count
