--[[
  get_job_schedulers: a range of job schedulers with their definitions, in one
  consistent read.

  KEYS[1]  repeat  ZSET  scheduler ids by next run (ms)
  KEYS[2..] the `repeat:<id>` hash of the scheduler ARGV[5] names (none for a range:
           the range's hashes are derived in the script from the ids it reads)

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  start index
  ARGV[3]  end index (inclusive; -1 = the last)
  ARGV[4]  "1" soonest first, "0" latest first
  ARGV[5]  a scheduler id to read alone, or "" for the range

  Returns {id, next ms (text), {hash fields flat}, ...} for schedulers whose
  hash exists.
]]

local base = ARGV[1]
local entries
if ARGV[5] ~= "" then
  local score = redis.call("ZSCORE", KEYS[1], ARGV[5])
  entries = score and {ARGV[5], score} or {}
elseif ARGV[4] == "1" then
  entries = redis.call("ZRANGE", KEYS[1], ARGV[2], ARGV[3], "WITHSCORES")
else
  entries = redis.call("ZREVRANGE", KEYS[1], ARGV[2], ARGV[3], "WITHSCORES")
end
local out = {}
for i = 1, #entries, 2 do
  local scheduler_key = ARGV[5] ~= "" and KEYS[#KEYS] or base .. "repeat:" .. entries[i]
  local fields = redis.call("HGETALL", scheduler_key)
  if #fields > 0 then
    out[#out + 1] = entries[i]
    out[#out + 1] = entries[i + 1]
    out[#out + 1] = fields
  end
end
return out
