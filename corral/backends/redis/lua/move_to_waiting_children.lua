--[[
  move_to_waiting_children: park an active job in waiting-children until its
  children finish (the step-job pattern of BullMQ's moveToWaitingChildren).

  KEYS[1]  active            LIST    the job leaves it
  KEYS[2]  waiting-children  ZSET    the job enters it, score = now
  KEYS[3]  stalled           SET     stalled candidates (the job leaves it)
  KEYS[4]  meta              HASH    opts.maxLenEvents
  KEYS[5]  events            STREAM  event log
  KEYS[6]  completed         ZSET    KEYS[6..11]: read only for the state a
  KEYS[7]  failed            ZSET    refusal reports
  KEYS[8]  delayed           ZSET
  KEYS[9]  prioritized       ZSET
  KEYS[10] wait              LIST
  KEYS[11] paused            LIST
  KEYS[12] job               HASH    the job
  KEYS[13] job:lock          STRING  its lock (released)
  KEYS[14] job:dependencies  SET     its pending children
  KEYS[15] job:unsuccessful  ZSET    its failed children

  ARGV[1]  job id
  ARGV[2]  token that must hold the lock
  ARGV[3]  now (epoch ms, the caller's): the job's score
  ARGV[4]  a child job key: wait only if that child is pending ("" = any child)

  Unlike Node, the lock is checked before anything is answered: only its
  holder learns whether the job has pending children.

  Returns 0 (now waiting) or 1 (nothing pending: nothing changed); else a
  refusal, having changed nothing: -1 no job, -9 a child failed this job,
  {-2, state} no lock, -6 lock held by another token, {-3, state} not active.
  Event: waiting-children (jobId, prev active).
]]
--- @include "flow"
--- @include "job"

local Q = {active = KEYS[1], stalled = KEYS[3], meta = KEYS[4], events = KEYS[5]}
local id, token = ARGV[1], ARGV[2]
local S = {
  completed = KEYS[6], failed = KEYS[7], delayed = KEYS[8], prioritized = KEYS[9],
  active = Q.active, wait = KEYS[10], paused = KEYS[11], waiting_children = KEYS[2],
}
local J = {hash = KEYS[12], lock = KEYS[13], dependencies = KEYS[14], unsuccessful = KEYS[15]}
if redis.call("EXISTS", J.hash) == 0 then
  return -1
end
if redis.call("ZCARD", J.unsuccessful) ~= 0 then
  return -9
end
local holder = redis.call("GET", J.lock)
if not holder then
  return {-2, job_state(S, J.hash, id)}
end
if holder ~= token then
  return -6
end
if not redis.call("LPOS", Q.active, id) then
  return {-3, job_state(S, J.hash, id)}
end
local child_key = ARGV[4]
local pending
if child_key ~= "" then
  pending = redis.call("SISMEMBER", J.dependencies, child_key) == 1
else
  pending = redis.call("SCARD", J.dependencies) > 0
end
if not pending then
  return 1
end
local code = take_job_from_active(Q, S, J, id, token)
if code ~= 0 then
  return code
end
redis.call("ZADD", KEYS[2], tonumber(ARGV[3]), id)
emit(Q, read_meta(Q.meta), "waiting-children", "jobId", id, "prev", "active")
return 0
