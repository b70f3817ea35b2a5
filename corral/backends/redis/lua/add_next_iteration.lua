--[[
  add_next_iteration: add a scheduler's next iteration because its current one
  started (Node BullMQ's updateJobScheduler, which a worker calls on fetch).

  KEYS[1]  repeat       ZSET    scheduler ids by next run (ms)
  KEYS[2]  delayed      ZSET    delayed jobs
  KEYS[3]  wait         LIST    plain jobs
  KEYS[4]  active       LIST    read for the global concurrency check
  KEYS[5]  prioritized  ZSET    prioritized jobs
  KEYS[6]  pc           STRING  priority counter
  KEYS[7]  marker       ZSET    wake-up marker
  KEYS[8]  meta         HASH    queue settings
  KEYS[9]  events       STREAM  event log
  KEYS[10] id           STRING  job id counter
  KEYS[11] repeat:<id>  HASH    the scheduler's definition
  The iterations' keys (`<base>repeat:<id>:<due>`) are derived in the script: their
  due time comes from the stored schedule, like a job id popped from a list.

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  scheduler id
  ARGV[3]  due ms of a cron scheduler's next iteration (ignored for `every`)
  ARGV[4]  now (epoch ms, the caller's): the iteration's timestamp
  ARGV[5]  id of the iteration that started (only the current one moves it on)
  ARGV[6]  the iteration's opts (JSON object text; jobId and delay are set here)
  ARGV[7]  the iteration's priority
  ARGV[8]  "1" if the iteration is lifo, else "0"

  Returns the new iteration's id, or "" when nothing was added: no such
  scheduler, ARGV[5] is not its current iteration, or the next id exists (event
  `duplicated`).
  Events: added, then delayed or waiting.
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
local prev = redis.call("ZSCORE", Q.repeat_, sid)
if not prev then
  return ""
end
if ARGV[5] ~= "repeat:" .. sid .. ":" .. prev then
  return ""
end
local scheduler_key = KEYS[11]
local s = redis.call("HMGET", scheduler_key, "name", "data", "every", "startDate", "offset")
local every = tonumber(s[3])
local due = tonumber(ARGV[3])
if every then
  local offset
  due, offset = every_next(tonumber(prev), every, now, s[5] or 0, s[4])
  if not s[5] then
    redis.call("HSET", scheduler_key, "offset", offset)
  end
end
local M = read_meta(Q.meta)
local id = "repeat:" .. sid .. ":" .. due
if redis.call("EXISTS", base .. id) == 1 then
  emit(Q, M, "duplicated", "jobId", id)
  return ""
end
redis.call("ZADD", Q.repeat_, due, sid)
redis.call("HINCRBY", scheduler_key, "ic", 1)
local delay = math.max(due - now, 0)
add_iteration(Q, M, base, sid, id, s[1] or "", s[2] or "{}", ARGV[6], now, delay,
  tonumber(ARGV[7]), ARGV[8] == "1")
return id
