--[[
  promote: move a delayed job into its line now.

  KEYS[1]  delayed           ZSET    the job leaves it
  KEYS[2]  wait              LIST    plain jobs (LPUSH = back of the line)
  KEYS[3]  prioritized       ZSET    prioritized jobs
  KEYS[4]  pc                STRING  priority counter
  KEYS[5]  active            LIST    read for the global concurrency check
  KEYS[6]  marker            ZSET    wake-up marker
  KEYS[7]  meta              HASH    queue settings
  KEYS[8]  events            STREAM  event log
  KEYS[9]  completed         ZSET    KEYS[9..12]: read only for the state a
  KEYS[10] failed            ZSET    refusal reports
  KEYS[11] paused            LIST
  KEYS[12] waiting-children  ZSET
  KEYS[13] job               HASH    the job

  ARGV[1]  job id

  Returns 0; else a refusal, having changed nothing: -1 no job, {-3, state}
  not delayed.
  Event: waiting (jobId, prev delayed).
]]
--- @include "queue"

local Q = {
  delayed = KEYS[1], wait = KEYS[2], prioritized = KEYS[3], pc = KEYS[4], active = KEYS[5],
  marker = KEYS[6], meta = KEYS[7], events = KEYS[8],
}
local id, job_key = ARGV[1], KEYS[13]
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
if redis.call("ZREM", Q.delayed, id) == 0 then
  local S = {
    completed = KEYS[9], failed = KEYS[10], delayed = Q.delayed, prioritized = Q.prioritized,
    active = Q.active, wait = Q.wait, paused = KEYS[11], waiting_children = KEYS[12],
  }
  return {-3, job_state(S, job_key, id)}
end
local M = read_meta(Q.meta)
enqueue(Q, id, job_priority(job_key), false)
redis.call("HSET", job_key, "delay", 0)
if not paused_or_maxed(Q, M) then
  add_base_marker(Q)
end
emit(Q, M, "waiting", "jobId", id, "prev", "delayed")
return 0
