--[[
  clean: remove up to `limit` jobs of one state that are older than a time,
  oldest first (one batch; the caller repeats with the returned cursor).

  KEYS[1]  wait         LIST    waiting jobs; the tail is the oldest
  KEYS[2]  active       LIST    active jobs; the tail is the first fetched
  KEYS[3]  delayed      ZSET    by due time
  KEYS[4]  prioritized  ZSET    by priority, then age
  KEYS[5]  completed    ZSET    by finishedOn
  KEYS[6]  failed       ZSET    by finishedOn
  KEYS[7]  stalled      SET     stalled candidates (a removed job leaves it)
  KEYS[8]  meta         HASH    opts.maxLenEvents
  KEYS[9]  events       STREAM  event log
  KEYS[10] repeat       ZSET    job schedulers: a scheduler's next run is kept

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  state: "wait" | "active" | "delayed" | "prioritized" | "completed" | "failed"
  ARGV[3]  before (epoch ms): a job qualifies when it finished (completed, failed)
           or, for the other states, last finished / was processed / was created
           at or before it
  ARGV[4]  limit: at most this many jobs (> 0)
  ARGV[5]  now (epoch ms, the caller's): places a parent released by a removed child
  ARGV[6]  cursor: for the states other than completed and failed, how many of
           the oldest entries earlier batches looked at and kept (0 at first)
  ARGV[7]  window: for those states, look at most at this many entries (>= limit)

  An active job qualifies only without a lock; a job scheduler's next run ("repeat:
  <scheduler>:<ms>" with that scheduler due then) never does, as in Node. Each job
  is removed like remove_job without its descendants (includes/prune.lua), with no
  `removed` event. Entries looked at and kept are passed over by the next batch
  (the returned cursor), so a young or locked job among the oldest does not stop
  the cleaning.

  Returns {removed ids oldest first, next cursor}: the cursor is -1 when every
  entry has been looked at (or, for completed and failed, none is left to remove).
  Event: cleaned (count), once per batch that removes jobs, and on a first batch
  that removes none (as Node, once per call).
]]
--- @include "prune"

local Q = {
  wait = KEYS[1], active = KEYS[2], delayed = KEYS[3], prioritized = KEYS[4],
  completed = KEYS[5], failed = KEYS[6], stalled = KEYS[7], meta = KEYS[8], events = KEYS[9],
}
local base, state = ARGV[1], ARGV[2]
local before, limit, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cursor, window = tonumber(ARGV[6]), tonumber(ARGV[7])
local removed = {}
local next_cursor = -1

local function qualifies(id, check_lock)
  local job_key = base .. id
  if check_lock and redis.call("EXISTS", job_key .. ":lock") == 1 then
    return false
  end
  if scheduler_run(KEYS[10], id) then
    return false
  end
  local seen = last_seen_ms(job_key)
  return not seen or seen <= before
end

if state == "completed" or state == "failed" then
  local set = Q[state]
  removed = redis.call("ZRANGEBYSCORE", set, "-inf", before, "LIMIT", 0, limit)
  zrem_all(set, removed)
  if #removed == limit then
    next_cursor = 0
  end
elseif state == "delayed" or state == "prioritized" then
  local set = Q[state]
  local ids = redis.call("ZRANGE", set, cursor, cursor + window - 1)
  local kept, looked = 0, 0
  for _, id in ipairs(ids) do
    if #removed == limit then
      break
    end
    looked = looked + 1
    if qualifies(id, false) then
      removed[#removed + 1] = id
    else
      kept = kept + 1
    end
  end
  zrem_all(set, removed)
  if looked < #ids or #ids == window then
    next_cursor = cursor + kept
  end
elseif state == "wait" or state == "active" then
  local list = Q[state]
  local ids = redis.call("LRANGE", list, -(cursor + window), -(cursor + 1))
  local n = #ids
  local kept, looked = 0, 0
  for i = n, 1, -1 do
    if #removed == limit then
      break
    end
    looked = looked + 1
    local id = ids[i]
    if qualifies(id, state == "active") then
      -- Mark the entry (no job id is empty; LSET moves nothing), drop the marks below.
      redis.call("LSET", list, i - n - 1 - cursor, "")
      removed[#removed + 1] = id
    else
      kept = kept + 1
    end
  end
  if #removed > 0 then
    redis.call("LREM", list, -#removed, "")
  end
  if looked < n or n == window then
    next_cursor = cursor + kept
  end
else
  return redis.error_reply("clean: unknown state " .. tostring(state))
end

for _, id in ipairs(removed) do
  prune_job(Q, base, id, now)
end
if #removed > 0 or cursor == 0 then
  emit(Q, read_meta(Q.meta), "cleaned", "count", #removed)
end
return {removed, next_cursor}
