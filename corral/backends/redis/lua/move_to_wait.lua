--[[
  move_to_wait: put an active job whose lock the token holds back at the front of
  its line, without using an attempt (BullMQ's moveJobFromActiveToWait).

  KEYS[1]  wait         LIST    plain jobs; RPUSH = front of the line
  KEYS[2]  active       LIST    the job leaves it
  KEYS[3]  prioritized  ZSET    prioritized jobs
  KEYS[4]  marker       ZSET    wake-up marker
  KEYS[5]  meta         HASH    queue settings
  KEYS[6]  events       STREAM  event log
  KEYS[7]  limiter      STRING  rate-limit counter
  KEYS[8]  stalled      SET     stalled candidates (the job leaves it)
  KEYS[9]  completed         ZSET    KEYS[9..13]: read only for the state a
  KEYS[10] failed            ZSET    refusal reports
  KEYS[11] delayed           ZSET
  KEYS[12] paused            LIST
  KEYS[13] waiting-children  ZSET
  KEYS[14] job               HASH    the job
  KEYS[15] job:lock          STRING  its lock (released)

  ARGV[1]  job id
  ARGV[2]  token that must hold the lock

  Returns the refusals of move_to_finished (nothing changed); else the ms left
  on the queue's rate limit (0 when it is not limited), by the same rule as
  get_rate_limit_ttl.
  Events: waiting (jobId, prev active).
]]
--- @include "queue"
--- @include "job"

local Q = {
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], marker = KEYS[4], meta = KEYS[5],
  events = KEYS[6], limiter = KEYS[7], stalled = KEYS[8],
}
local id = ARGV[1]
local S = {
  completed = KEYS[9], failed = KEYS[10], delayed = KEYS[11], prioritized = Q.prioritized,
  active = Q.active, wait = Q.wait, paused = KEYS[12], waiting_children = KEYS[13],
}
local J = {hash = KEYS[14], lock = KEYS[15]}
local code = take_job_from_active(Q, S, J, id, ARGV[2])
if code ~= 0 then
  return code
end

local M = read_meta(Q.meta)
local priority = job_priority(J.hash)
if priority > 0 then
  -- Counter part 0: ahead of every job of the same priority.
  redis.call("ZADD", Q.prioritized, priority * 4294967296, id)
else
  redis.call("RPUSH", Q.wait, id)
  if not paused_or_maxed(Q, M) then
    add_base_marker(Q)
  end
end
emit(Q, M, "waiting", "jobId", id, "prev", "active")

return rate_limit_ttl(Q, M.max)
