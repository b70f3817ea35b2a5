--[[
  clean: remove up to `limit` jobs of one state that are older than a time,
  oldest first (one batch; the caller repeats while a batch is full).

  KEYS[1]  wait         LIST    waiting jobs; the tail is the oldest
  KEYS[2]  active       LIST    active jobs; the tail is the first fetched
  KEYS[3]  delayed      ZSET    by due time
  KEYS[4]  prioritized  ZSET    by priority, then age
  KEYS[5]  completed    ZSET    by finishedOn
  KEYS[6]  failed       ZSET    by finishedOn
  KEYS[7]  stalled      SET     stalled candidates (a removed job leaves it)
  KEYS[8]  meta         HASH    opts.maxLenEvents
  KEYS[9]  events       STREAM  event log

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  state: "wait" | "active" | "delayed" | "prioritized" | "completed" | "failed"
  ARGV[3]  before (epoch ms): a job qualifies when it finished (completed, failed)
           or, for the other states, last finished / was processed / was created
           at or before it
  ARGV[4]  limit: at most this many jobs (> 0); for the states other than
           completed and failed, only the `limit` oldest entries are looked at
  ARGV[5]  now (epoch ms, the caller's): places a parent released by a removed child

  An active job qualifies only without a lock. Each job is removed like
  remove_job without its descendants (includes/prune.lua), with no `removed`
  event.

  Returns the removed ids, oldest first.
  Event: cleaned (count), once per call, as Node.
]]
--- @include "prune"

local Q = {
  wait = KEYS[1], active = KEYS[2], delayed = KEYS[3], prioritized = KEYS[4],
  completed = KEYS[5], failed = KEYS[6], stalled = KEYS[7], meta = KEYS[8], events = KEYS[9],
}
local base, state = ARGV[1], ARGV[2]
local before, limit, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local removed = {}

if state == "completed" or state == "failed" then
  local set = Q[state]
  removed = redis.call("ZRANGEBYSCORE", set, "-inf", before, "LIMIT", 0, limit)
  zrem_all(set, removed)
elseif state == "delayed" or state == "prioritized" then
  local set = Q[state]
  for _, id in ipairs(redis.call("ZRANGE", set, 0, limit - 1)) do
    local seen = last_seen_ms(base .. id)
    if not seen or seen <= before then
      removed[#removed + 1] = id
    end
  end
  zrem_all(set, removed)
elseif state == "wait" or state == "active" then
  local list = Q[state]
  local ids = redis.call("LRANGE", list, -limit, -1)
  local n = #ids
  for i = n, 1, -1 do
    local id = ids[i]
    local job_key = base .. id
    if state == "wait" or redis.call("EXISTS", job_key .. ":lock") == 0 then
      local seen = last_seen_ms(job_key)
      if not seen or seen <= before then
        -- Mark the entry (no job id is empty) and drop every mark at once below.
        redis.call("LSET", list, i - n - 1, "")
        removed[#removed + 1] = id
      end
    end
  end
  if #removed > 0 then
    redis.call("LREM", list, 0, "")
  end
else
  return redis.error_reply("clean: unknown state " .. tostring(state))
end

for _, id in ipairs(removed) do
  prune_job(Q, base, id, now)
end
emit(Q, read_meta(Q.meta), "cleaned", "count", #removed)
return removed
