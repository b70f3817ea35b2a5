--[[
  retry_job: record a failed attempt of an active job whose lock the token holds
  and put it back: into its line at once (delay 0) or into delayed; optionally
  fetch the next job in the same step.

  KEYS[1]  wait         LIST    plain jobs (LPUSH back, RPUSH front for lifo)
  KEYS[2]  active       LIST    the job leaves it
  KEYS[3]  prioritized  ZSET    prioritized jobs
  KEYS[4]  pc           STRING  priority counter
  KEYS[5]  delayed      ZSET    delayed jobs
  KEYS[6]  marker       ZSET    wake-up marker
  KEYS[7]  meta         HASH    queue settings
  KEYS[8]  events       STREAM  event log
  KEYS[9]  limiter      STRING  rate-limit counter (fetch)
  KEYS[10] stalled      SET     stalled candidates (the job leaves it)
  KEYS[11] completed         ZSET    KEYS[11..14]: read only for the state a
  KEYS[12] failed            ZSET    refusal reports
  KEYS[13] paused            LIST
  KEYS[14] waiting-children  ZSET
  KEYS[15] job               HASH    the job
  KEYS[16] job:lock          STRING  its lock (released)

  ARGV[1]  base key "<prefix>:<queue>:" (of the jobs the fetch finds)
  ARGV[2]  job id
  ARGV[3]  token that must hold the lock
  ARGV[4]  now (epoch ms, the caller's): places the delayed job, the fetch's now
  ARGV[5]  failure reason
  ARGV[6]  stacktrace (JSON array text)
  ARGV[7]  delay (ms); 0 = run again at once
  ARGV[8]  "1" to fetch the next job, "0" not
  ARGV[9..14] fetch: token, lock ms, limiter max, limiter window ms, worker name,
           the highest delayed score due by now ((now + 1) * 4096 - 1)

  Returns the refusals of move_to_finished (nothing changed); else 0 when not
  fetching, or the fetch reply {job fields | 0, id | 0, rate limit ms, next due ms}.
  Events: waiting (jobId, prev active), or delayed (jobId, delay = absolute due ms).
]]
--- @include "queue"
--- @include "job"
-- The helpers includes/fetch.lua asks for, made above.
local function lib()
  return {promote_due = promote_due}
end
--- @include "fetch"

local Q = {
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], pc = KEYS[4], delayed = KEYS[5],
  marker = KEYS[6], meta = KEYS[7], events = KEYS[8], limiter = KEYS[9], stalled = KEYS[10],
}
local base, id = ARGV[1], ARGV[2]
local S = {
  completed = KEYS[11], failed = KEYS[12], delayed = Q.delayed, prioritized = Q.prioritized,
  active = Q.active, wait = Q.wait, paused = KEYS[13], waiting_children = KEYS[14],
}
local J = {hash = KEYS[15], lock = KEYS[16]}
local code = take_job_from_active(Q, S, J, id, ARGV[3])
if code ~= 0 then
  return code
end

local now, delay = tonumber(ARGV[4]), tonumber(ARGV[7])
local M = read_meta(Q.meta)
local job_key = J.hash
redis.call("HSET", job_key, "failedReason", ARGV[5], "stacktrace", ARGV[6])
bump(job_key, "atm")

if delay > 0 then
  local due = now + delay
  redis.call("HSET", job_key, "delay", delay)
  redis.call("ZADD", Q.delayed, delayed_score(Q, due), id)
  emit(Q, M, "delayed", "jobId", id, "delay", due)
  add_delay_marker(Q)
else
  promote_due(Q, M, base, now)
  local fields = redis.call("HMGET", job_key, "priority", "opts")
  local ok, opts = pcall(cjson.decode, fields[2] or "{}")
  local lifo = ok and type(opts) == "table" and opts["lifo"] == true
  enqueue(Q, id, tonumber(fields[1]) or 0, lifo)
  if not paused_or_maxed(Q, M) then
    add_base_marker(Q)
  end
  emit(Q, M, "waiting", "jobId", id, "prev", "active")
end

if ARGV[8] == "1" then
  return fetch_job(Q, M, base, 9, ARGV[4])
end
return 0
