--[[
  update_data: replace a job's data (Node's updateData).

  KEYS[1]  job  HASH  the job

  ARGV[1]  data (JSON text, stored verbatim)

  Returns 0, or -1 when there is no such job. No event, as Node.
]]

local job_key = KEYS[1]
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
redis.call("HSET", job_key, "data", ARGV[1])
return 0
