--[[
  move_to_active: promote due delayed jobs, then take the next job and lock it.

  KEYS[1]  wait         LIST    plain jobs; the tail is taken first
  KEYS[2]  active       LIST    the job enters at the head
  KEYS[3]  prioritized  ZSET    taken (ZPOPMIN) when wait is empty
  KEYS[4]  pc           STRING  priority counter (DEL when prioritized is empty)
  KEYS[5]  delayed      ZSET    due jobs are promoted first
  KEYS[6]  marker       ZSET    base marker re-added after a fetch
  KEYS[7]  meta         HASH    paused, concurrency, max, duration
  KEYS[8]  events       STREAM  event log
  KEYS[9]  limiter      STRING  rate-limit counter, PX = window

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  now (epoch ms, the caller's): promotes delayed jobs due by it and is
           stored as processedOn; the lock and the limiter expire by the server's
           clock (PX). "" = the server's clock (TIME), for a fetch queued behind a
           blocking marker pop, which runs later than it was sent; ARGV[8] is
           then ignored
  ARGV[3]  token the job is locked with
  ARGV[4]  lock duration (ms)
  ARGV[5]  limiter max jobs per window ("" = none; meta max wins)
  ARGV[6]  limiter window (ms, "" = none; wins over meta duration)
  ARGV[7]  worker name, stored as pb ("" = none)
  ARGV[8]  the highest delayed score due by now: (now + 1) * 4096 - 1

  The job taken is found in the script (its id is popped from a list), so its
  keys are built from the base key and share the queue's slot.

  Returns {job fields (flat HGETALL) | 0, job id | 0, rate limit ms, next delayed due ms}.
  Events: waiting (prev delayed) per promoted job; active (jobId, prev waiting).
]]
--- @include "core"

-- The queue helpers, built only when a fetch promotes delayed jobs.
local L
local function lib()
  if not L then
    L = (function()
--- @include "queue"
      return {promote_due = promote_due}
    end)()
  end
  return L
end
--- @include "fetch"

local Q = {
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], pc = KEYS[4], delayed = KEYS[5],
  marker = KEYS[6], meta = KEYS[7], events = KEYS[8], limiter = KEYS[9],
}
local now = ARGV[2]
if now == "" then
  local time = redis.call("TIME")
  local ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  now = string.format("%.0f", ms)
  ARGV[8] = string.format("%.0f", (ms + 1) * 4096 - 1)
end
return fetch_job(Q, read_meta(Q.meta), ARGV[1], 3, now)
