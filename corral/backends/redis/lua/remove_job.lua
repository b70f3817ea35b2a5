--[[
  remove_job: remove a job and everything stored with it.

  KEYS[1]  wait              LIST
  KEYS[2]  paused            LIST    legacy BullMQ 5 list
  KEYS[3]  active            LIST
  KEYS[4]  delayed           ZSET
  KEYS[5]  prioritized       ZSET
  KEYS[6]  completed         ZSET
  KEYS[7]  failed            ZSET
  KEYS[8]  waiting-children  ZSET
  KEYS[9]  stalled           SET
  KEYS[10] meta              HASH    opts.maxLenEvents
  KEYS[11] events            STREAM  event log
  KEYS[12] job               HASH    the job
  KEYS[13] job:lock          STRING  its lock
  KEYS[14] job:logs          LIST    its log lines
  KEYS[15] job:dependencies  SET     its pending children (flows)
  KEYS[16] job:processed     HASH    its completed children
  KEYS[17] job:failed        HASH    its ignored failed children
  KEYS[18] job:unsuccessful  ZSET    its failed children

  ARGV[1]  base key "<prefix>:<queue>:" (of the `de:` key named in the job's hash)
  ARGV[2]  job id
  ARGV[3]  "1" to remove the job's descendants too (all four buckets), "0" not
  ARGV[4]  now (epoch ms, the caller's): places a released parent that has a delay

  A child leaves its parent's pending children (releasing the parent if it was
  the last); the parent's other buckets keep their entry (includes/flow.lua).

  Returns 1 removed, 0 no such job, -102 (JOB_LOCKED) the job, or with ARGV[3]
  a job reachable through pending children, is locked (its lock is live, by the
  server's clock; nothing changed).
  Event: removed (jobId, prev), per removed job in its own queue: the previous
  state as Node names it, the key it was taken from ("wait" for a waiting job,
  "paused" for the legacy list).
]]
--- @include "flow"
--- @include "job"

local Q = {meta = KEYS[10], events = KEYS[11]}
local base, id = ARGV[1], ARGV[2]
local J = {
  hash = KEYS[12], lock = KEYS[13], logs = KEYS[14], dependencies = KEYS[15],
  processed = KEYS[16], failed = KEYS[17], unsuccessful = KEYS[18],
}
local job_key = J.hash
if redis.call("EXISTS", job_key) == 0 then
  return 0
end
if redis.call("EXISTS", J.lock) == 1 then
  return -102
end
local with_children = ARGV[3] == "1"
if with_children and descendant_locked(job_key) then
  return -102
end
local parent = parent_of(job_key)
if parent then
  drop_dependency(parent, job_key, tonumber(ARGV[4]))
end
if with_children then
  remove_descendants(job_key)
end

local prev = "unknown"
local lists = {{KEYS[1], "wait"}, {KEYS[2], "paused"}, {KEYS[3], "active"}}
for _, list in ipairs(lists) do
  if redis.call("LREM", list[1], 0, id) > 0 then
    prev = list[2]
  end
end
local sets = {{KEYS[4], "delayed"}, {KEYS[5], "prioritized"}, {KEYS[6], "completed"},
  {KEYS[7], "failed"}, {KEYS[8], "waiting-children"}}
for _, set in ipairs(sets) do
  if redis.call("ZREM", set[1], id) > 0 then
    prev = set[2]
  end
end
redis.call("SREM", KEYS[9], id)

local dedup_id = redis.call("HGET", job_key, "deid")
if dedup_id then
  local dedup_key = base .. "de:" .. dedup_id
  if redis.call("GET", dedup_key) == id then
    redis.call("DEL", dedup_key, base .. "dn:" .. dedup_id)
  end
end
delete_job(J)
emit(Q, read_meta(Q.meta), "removed", "jobId", id, "prev", prev)
return 1
