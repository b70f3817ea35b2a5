--[[
  get_state: where a job is, in BullMQ's order of checks.

  KEYS[1]  completed         ZSET
  KEYS[2]  failed            ZSET
  KEYS[3]  delayed           ZSET
  KEYS[4]  prioritized       ZSET
  KEYS[5]  active            LIST
  KEYS[6]  wait              LIST
  KEYS[7]  paused            LIST  legacy BullMQ 5 list; its jobs are waiting
  KEYS[8]  waiting-children  ZSET

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id

  Returns the state name: completed, failed, delayed, prioritized, active,
  waiting, waiting-children or unknown (also when the job does not exist).
]]

local id = ARGV[2]
if redis.call("EXISTS", ARGV[1] .. id) == 0 then
  return "unknown"
end
local sets = {{KEYS[1], "completed"}, {KEYS[2], "failed"}, {KEYS[3], "delayed"},
  {KEYS[4], "prioritized"}}
for _, set in ipairs(sets) do
  if redis.call("ZSCORE", set[1], id) then
    return set[2]
  end
end
if redis.call("LPOS", KEYS[5], id) then
  return "active"
end
if redis.call("LPOS", KEYS[6], id) or redis.call("LPOS", KEYS[7], id) then
  return "waiting"
end
if redis.call("ZSCORE", KEYS[8], id) then
  return "waiting-children"
end
return "unknown"
