--[[
  move_to_waiting_children: park an active job in waiting-children until its
  children finish (the step-job pattern of BullMQ's moveToWaitingChildren).

  KEYS[1]  active            LIST    the job leaves it
  KEYS[2]  waiting-children  ZSET    the job enters it, score = now
  KEYS[3]  stalled           SET     stalled candidates (the job leaves it)
  KEYS[4]  meta              HASH    opts.maxLenEvents
  KEYS[5]  events            STREAM  event log

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
  ARGV[3]  token that must hold the lock
  ARGV[4]  now (epoch ms, the caller's): the job's score
  ARGV[5]  a child job key: wait only if that child is pending ("" = any child)

  Unlike Node, the lock is checked before anything is answered: only its
  holder learns whether the job has pending children.

  Returns 0 (now waiting) or 1 (nothing pending: nothing changed); else a
  refusal, having changed nothing: -1 no job, -9 a child failed this job,
  {-2, state} no lock, -6 lock held by another token, {-3, state} not active.
  Event: waiting-children (jobId, prev active).
]]
--- @include "flow"

local Q = {active = KEYS[1], stalled = KEYS[3], meta = KEYS[4], events = KEYS[5]}
local base, id, token = ARGV[1], ARGV[2], ARGV[3]
local job_key = base .. id
if redis.call("EXISTS", job_key) == 0 then
  return -1
end
if redis.call("ZCARD", job_key .. ":unsuccessful") ~= 0 then
  return -9
end
local holder = redis.call("GET", job_key .. ":lock")
if not holder then
  return refuse_with_state(-2, base, id)
end
if holder ~= token then
  return -6
end
if not redis.call("LPOS", Q.active, id) then
  return refuse_with_state(-3, base, id)
end
local child_key = ARGV[5]
local pending
if child_key ~= "" then
  pending = redis.call("SISMEMBER", job_key .. ":dependencies", child_key) == 1
else
  pending = redis.call("SCARD", job_key .. ":dependencies") > 0
end
if not pending then
  return 1
end
local code = take_from_active(Q, base, id, token)
if code ~= 0 then
  return code
end
redis.call("ZADD", KEYS[2], tonumber(ARGV[4]), id)
emit(Q, read_meta(Q.meta), "waiting-children", "jobId", id, "prev", "active")
return 0
