--[[
  upsert_job_scheduler: store a job scheduler (replacing one with the same id)
  and add its next iteration (Node BullMQ's addJobScheduler).

  KEYS[1]  repeat       ZSET    scheduler ids by next run (ms)
  KEYS[2]  delayed      ZSET    delayed jobs
  KEYS[3]  wait         LIST    plain jobs
  KEYS[4]  active       LIST    read for the global concurrency check
  KEYS[5]  prioritized  ZSET    prioritized jobs
  KEYS[6]  pc           STRING  priority counter
  KEYS[7]  marker       ZSET    wake-up marker
  KEYS[8]  meta         HASH    queue settings
  KEYS[9]  events       STREAM  event log
  KEYS[10] id           STRING  job id counter (INCR per iteration, as Node)
  KEYS[11] repeat:<id>  HASH    the scheduler's definition
  The iterations' keys (`<base>repeat:<id>:<due>`) are derived in the script: their
  due time comes from the stored schedule, like a job id popped from a list.

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  scheduler id
  ARGV[3]  due ms of a cron scheduler's next iteration (ignored for `every`)
  ARGV[4]  now (epoch ms, the caller's): the iteration's timestamp
  ARGV[5]  name of the jobs
  ARGV[6]  every (ms) or ""
  ARGV[7]  cron pattern or ""
  ARGV[8]  tz or ""
  ARGV[9]  limit or ""
  ARGV[10] startDate (epoch ms) or ""
  ARGV[11] endDate (epoch ms) or ""
  ARGV[12] iterations' data (JSON text)
  ARGV[13] iterations' job options (JSON text; "{}" for none)
  ARGV[14] the iteration's opts (JSON object text; jobId and delay are set here)
  ARGV[15] the iteration's priority
  ARGV[16] "1" if the iteration is lifo, else "0"

  Returns {iteration job id, delay ms}; -10 the cron iteration's id is taken by
  a job that is not the pending one; -11 every slot an `every` scheduler tried is
  taken.
  Events: added, then delayed or waiting (the iteration).
]]
--- @include "queue"
--- @include "scheduler"

local Q = {
  repeat_ = KEYS[1], delayed = KEYS[2], wait = KEYS[3], active = KEYS[4],
  prioritized = KEYS[5], pc = KEYS[6], marker = KEYS[7], meta = KEYS[8],
  events = KEYS[9], id = KEYS[10],
}
local base, sid = ARGV[1], ARGV[2]
local now = tonumber(ARGV[4])
local every = tonumber(ARGV[6])
local start_date = ARGV[10] ~= "" and ARGV[10] or nil
local M = read_meta(Q.meta)
local scheduler_key = KEYS[11]

local prev = redis.call("ZSCORE", Q.repeat_, sid)
local old = redis.call("HMGET", scheduler_key, "every", "offset", "ic")
local due = tonumber(ARGV[3])
local offset = nil
local same_every = false
if every then
  local from = nil
  if prev and tonumber(old[1]) == every then
    from = tonumber(prev)
    same_every = true
  end
  due, offset = every_next(from, every, now, 0, start_date)
end

-- The pending iteration of the scheduler being replaced goes; one that already
-- runs (or ran) stays.
local removed = false
if prev then
  local pending = "repeat:" .. sid .. ":" .. prev
  local pending_key = base .. pending
  if redis.call("ZREM", Q.delayed, pending) == 1 or redis.call("ZREM", Q.prioritized, pending) == 1
      or redis.call("LREM", Q.wait, 1, pending) > 0 then
    remove_job_keys(pending_key)
    removed = true
  end
end
if removed and same_every then
  due = tonumber(prev)
  offset = tonumber(old[2]) or offset
end

local id = "repeat:" .. sid .. ":" .. due
if redis.call("EXISTS", base .. id) == 1 then
  if not every then
    return -10
  end
  local tries = 0
  repeat
    due = due + every
    id = "repeat:" .. sid .. ":" .. due
    tries = tries + 1
  until redis.call("EXISTS", base .. id) == 0 or tries >= 32
  if tries >= 32 then
    return -11
  end
end

local fields = {"name", ARGV[5]}
local function keep(field, value)
  if value and value ~= "" then
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
end
keep("tz", ARGV[8])
keep("limit", ARGV[9])
keep("pattern", ARGV[7])
keep("startDate", ARGV[10])
keep("endDate", ARGV[11])
keep("every", ARGV[6])
if offset then
  fields[#fields + 1] = "offset"
  fields[#fields + 1] = offset
elseif not every then
  fields[#fields + 1] = "offset"
  fields[#fields + 1] = 0
end
if ARGV[13] ~= "{}" then
  keep("opts", ARGV[13])
end
if ARGV[12] ~= "{}" then
  keep("data", ARGV[12])
end
fields[#fields + 1] = "ic"
fields[#fields + 1] = old[3] or 1
redis.call("DEL", scheduler_key)
redis.call("HSET", scheduler_key, unpack(fields))
redis.call("ZADD", Q.repeat_, due, sid)

local delay = math.max(due - now, 0)
add_iteration(Q, M, base, sid, id, ARGV[5], ARGV[12], ARGV[14], now, delay,
  tonumber(ARGV[15]), ARGV[16] == "1")
return {id, delay}
