--[[
  move_stalled_to_wait: the stalled checker. Runs at most once per interval
  across all workers of the queue.

  A job is stalled when it was active at the previous check (in `stalled`),
  nobody extended or finished it since, its lock is gone and it is still active.

  Redis Cluster: the jobs it checks are found while the script runs, so their keys
  are built here from ARGV[1], the queue's base key; they share the slot of the
  KEYS below because every key of a queue does (a braced prefix, which corral
  enforces on a Cluster).

  KEYS[1]  stalled        SET     candidates from the previous check
  KEYS[2]  stalled-check  STRING  throttle, PX = interval
  KEYS[3]  wait           LIST    stalled jobs go to its front (RPUSH)
  KEYS[4]  active         LIST    current active jobs (next candidates)
  KEYS[5]  marker         ZSET    wake-up marker
  KEYS[6]  meta           HASH    queue settings
  KEYS[7]  events         STREAM  event log (trimmed first)
  KEYS[8]  repeat         ZSET    job schedulers (their live jobs never get defa)

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  max stalled count
  ARGV[3]  now (epoch ms, the caller's): stored in the throttle key as a record of
           when the check ran; locks and the throttle expire by the server's clock
  ARGV[4]  stalled interval (ms)

  Returns the ids returned to wait.
  Events per job: waiting (jobId, prev active), stalled (jobId).
]]
--- @include "queue"

local Q = {
  stalled = KEYS[1], wait = KEYS[3], active = KEYS[4], marker = KEYS[5], meta = KEYS[6],
  events = KEYS[7],
}
if redis.call("EXISTS", KEYS[2]) == 1 then
  return {}
end
redis.call("SET", KEYS[2], ARGV[3], "PX", ARGV[4])

local base, max_stalled = ARGV[1], tonumber(ARGV[2])
local M = read_meta(Q.meta)
redis.call("XTRIM", Q.events, "MAXLEN", "~", M.max_events)

-- Phase A: judge the candidates of the previous check.
local requeued = {}
local candidates = redis.call("SMEMBERS", Q.stalled)
redis.call("DEL", Q.stalled)
for _, id in ipairs(candidates) do
  local job_key = base .. id
  if string.sub(id, 1, 2) == "0:" then
    redis.call("LREM", Q.active, 1, id)
  elseif redis.call("EXISTS", job_key .. ":lock") == 0
      and redis.call("LREM", Q.active, 1, id) > 0 then
    if redis.call("EXISTS", job_key) == 1 then
      local stalls = bump(job_key, "stc")
      if stalls > max_stalled then
        -- The live iteration of a job scheduler is never failed for stalling.
        local scheduler = redis.call("HGET", job_key, "rjk")
        local live = scheduler and (redis.call("EXISTS", base .. "repeat:" .. scheduler) == 1
          or redis.call("ZSCORE", KEYS[8], scheduler))
        if not live then
          redis.call("HSET", job_key, "defa", "job stalled more than allowable limit")
        end
      end
      redis.call("RPUSH", Q.wait, id)
      emit(Q, M, "waiting", "jobId", id, "prev", "active")
      emit(Q, M, "stalled", "jobId", id)
      requeued[#requeued + 1] = id
    end
  end
end
if #requeued > 0 and not paused_or_maxed(Q, M) then
  add_base_marker(Q)
end

-- Phase B: every job active now is a candidate for the next check.
local active = redis.call("LRANGE", Q.active, 0, -1)
for i = 1, #active, 7000 do
  redis.call("SADD", Q.stalled, unpack(active, i, math.min(i + 6999, #active)))
end
return requeued
