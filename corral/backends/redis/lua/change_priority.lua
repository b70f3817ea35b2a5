--[[
  change_priority: give a job a new priority (Node's changePriority).

  KEYS[1]  wait         LIST    plain jobs (LPUSH back, RPUSH front)
  KEYS[2]  prioritized  ZSET    prioritized jobs
  KEYS[3]  pc           STRING  priority counter
  KEYS[4]  active       LIST    read for the global concurrency check
  KEYS[5]  marker       ZSET    wake-up marker
  KEYS[6]  meta         HASH    queue settings
  KEYS[7]  job          HASH    the job

  ARGV[1]  job id
  ARGV[2]  priority (0 none, 1 first ... 2097151)
  ARGV[3]  "1" lifo: first among the jobs of its priority (or at the front of
           wait for priority 0), "0" last

  A job that waits (wait or prioritized) moves to its new place; a job in any
  other state only gets the new `priority` field, which applies when it next
  waits (a delayed job when it is promoted, a failed one when it is retried).

  Returns 0, or -1 when there is no such job. No event, as Node.
]]
--- @include "queue"

local Q = {
  wait = KEYS[1], prioritized = KEYS[2], pc = KEYS[3], active = KEYS[4], marker = KEYS[5],
  meta = KEYS[6],
}
local id, job_key = ARGV[1], KEYS[7]
local priority, lifo = tonumber(ARGV[2]), ARGV[3] == "1"
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
local waiting = redis.call("ZREM", Q.prioritized, id) > 0
  or redis.call("LREM", Q.wait, -1, id) > 0
if waiting then
  if priority > 0 and lifo then
    -- Ahead of every job of that priority: the counter part of the score is 0.
    redis.call("ZADD", Q.prioritized, priority * 4294967296, id)
  else
    enqueue(Q, id, priority, lifo)
  end
  if not paused_or_maxed(Q, read_meta(Q.meta)) then
    add_base_marker(Q)
  end
end
redis.call("HSET", job_key, "priority", priority)
return 0
