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
  (includes/prune.lua); active, completed and failed jobs are untouched. A job
  that is a job scheduler's next run (id "repeat:<scheduler>:<ms>" with that
  scheduler at that time) stays, in whichever line it is, as in Node: the
  schedule goes on.

  Returns how many jobs were removed. No events, as Node.
]]
--- @include "prune"

local Q = {stalled = KEYS[6], meta = KEYS[7], events = KEYS[8]}
local base, budget, now = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local removed = 0

-- Remove the jobs of a list from its tail (the oldest) up; a kept job stays where it
-- is, and the next window starts past the ones kept so far.
local function take_list(list)
  local kept = 0
  while budget > 0 do
    local want, skip = budget, kept
    local ids = redis.call("LRANGE", list, -(skip + want), -(skip + 1))
    local n = #ids
    local keep = {}
    for i = 1, n do
      keep[i] = scheduler_run(KEYS[5], ids[i])
    end
    local gone = 0
    for i = n, 1, -1 do
      if keep[i] then
        kept = kept + 1
      else
        gone = gone + 1
      end
    end
    if skip == 0 and gone == n then
      redis.call("LTRIM", list, 0, -n - 1)  -- the common case: the whole tail goes
    elseif gone > 0 then
      for i = 1, n do
        if not keep[i] then
          -- Mark the entry (no job id is empty; LSET moves nothing), drop the marks below.
          redis.call("LSET", list, i - n - 1 - skip, "")
        end
      end
      redis.call("LREM", list, -gone, "")
    end
    for i = 1, n do
      if not keep[i] then
        prune_job(Q, base, ids[i], now)
      end
    end
    budget = budget - gone
    removed = removed + gone
    if n < want then
      return
    end
  end
end

local function take_set(set)
  local offset = 0
  while budget > 0 do
    local ids = redis.call("ZRANGE", set, offset, offset + budget - 1)
    if #ids == 0 then
      return
    end
    local gone = {}
    for _, id in ipairs(ids) do
      if scheduler_run(KEYS[5], id) then
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
take_set(KEYS[3])
if ARGV[2] == "1" then
  take_set(KEYS[4])
end
return removed
