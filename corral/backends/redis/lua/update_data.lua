--[[
  update_data: replace a job's data (Node's updateData).

  KEYS[1]  meta  HASH  not read: it places the call in the queue's hash slot

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  data (JSON text, stored verbatim)

  Returns 0, or -1 when there is no such job. No event, as Node.
]]

local job_key = ARGV[1] .. ARGV[2]
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
redis.call("HSET", job_key, "data", ARGV[3])
return 0
