--[[
  update_progress: store a job's progress.

  KEYS[1]  meta    HASH    opts.maxLenEvents
  KEYS[2]  events  STREAM  event log
  KEYS[3]  job     HASH    the job

  ARGV[1]  job id
  ARGV[2]  progress (JSON text)

  Returns 0, or -1 when the job does not exist. Event: progress (jobId, data).
]]
--- @include "queue"

local Q = {meta = KEYS[1], events = KEYS[2]}
local job_key = KEYS[3]
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
local M = read_meta(Q.meta)
redis.call("HSET", job_key, "progress", ARGV[2])
emit(Q, M, "progress", "jobId", ARGV[1], "data", ARGV[2])
return 0
