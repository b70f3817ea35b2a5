--[[
  drain: remove up to `limit` jobs that wait (and, when asked, delayed ones),
  as Node's drain does, in batches (the caller repeats while a batch is full).

  KEYS[1]  wait         LIST    waiting jobs (taken from the tail)
  KEYS[2]  paused       LIST    legacy BullMQ 5 list, emptied too
  KEYS[3]  prioritized  ZSET    prioritized jobs
  KEYS[4]  delayed      ZSET    delayed jobs (only with ARGV[2] "1")
  KEYS[5]  repeat       ZSET    job schedulers: a scheduler's next run is kept
  KEYS[6]  stalled      SET     stalled candidates
  KEYS[7]  meta         HASH    opts.maxLenEvents
  KEYS[8]  events       STREAM  event log (for released parents)

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  "1" to remove delayed jobs too, "0" not
  ARGV[3]  limit: at most this many jobs (> 0)
  ARGV[4]  now (epoch ms, the caller's): places a parent released by a removed child

  Each job is removed like remove_job without its descendants
  (includes/prune.lua); active, completed and failed jobs are untouched. A delayed
  job that is a job scheduler's next run (id "repeat:<scheduler>:<ms>" with that
  scheduler at that time) stays, as in Node.

  Returns how many jobs were removed. No events, as Node.
]]
--- @include "prune"

local Q = {stalled = KEYS[6], meta = KEYS[7], events = KEYS[8]}
local base, budget, now = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local removed = 0

local function take_list(list)
  if budget <= 0 then
    return
  end
  local ids = redis.call("LRANGE", list, -budget, -1)
  if #ids == 0 then
    return
  end
  redis.call("LTRIM", list, 0, -#ids - 1)
  for _, id in ipairs(ids) do
    prune_job(Q, base, id, now)
  end
  budget = budget - #ids
  removed = removed + #ids
end

local function scheduled_next(id)
  local scheduler, at = string.match(id, "^repeat:(.+):(%d+)$")
  if not scheduler then
    return false
  end
  local score = redis.call("ZSCORE", KEYS[5], scheduler)
  return score ~= false and tonumber(score) == tonumber(at)
end

local function take_set(set, keep_scheduled)
  local offset = 0
  while budget > 0 do
    local ids = redis.call("ZRANGE", set, offset, offset + budget - 1)
    if #ids == 0 then
      return
    end
    local gone = {}
    for _, id in ipairs(ids) do
      if keep_scheduled and scheduled_next(id) then
        offset = offset + 1
      else
        gone[#gone + 1] = id
      end
    end
    zrem_all(set, gone)
    for _, id in ipairs(gone) do
      prune_job(Q, base, id, now)
    end
    budget = budget - #gone
    removed = removed + #gone
  end
end

take_list(KEYS[1])
take_list(KEYS[2])
take_set(KEYS[3], false)
if ARGV[2] == "1" then
  take_set(KEYS[4], true)
end
return removed
