--[[
  update_progress: store a job's progress.

  KEYS[1]  meta    HASH    opts.maxLenEvents
  KEYS[2]  events  STREAM  event log

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  progress (JSON text)

  Returns 0, or -1 when the job does not exist. Event: progress (jobId, data).
]]
--- @include "queue"

local Q = {meta = KEYS[1], events = KEYS[2]}
local job_key = ARGV[1] .. ARGV[2]
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
local M = read_meta(Q.meta)
redis.call("HSET", job_key, "progress", ARGV[3])
emit(Q, M, "progress", "jobId", ARGV[2], "data", ARGV[3])
return 0
