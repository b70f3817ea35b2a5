--[[
  obliterate: remove a paused queue and all its jobs, one batch per call; the
  caller repeats while it returns 1.

  Redis Cluster: the jobs it removes (and their `de:`, `repeat:<id>` keys) are
  found while the script runs, so their keys are built here from ARGV[1], the
  queue's base key, as are the queue's keys it deletes by suffix; they share the
  slot of the KEYS below because every key of a queue does (a braced prefix,
  which corral enforces on a Cluster).

  KEYS[1]  meta         HASH    must have `paused`
  KEYS[2]  active       LIST    jobs (and locks) removed first
  KEYS[3]  wait         LIST
  KEYS[4]  paused       LIST    legacy BullMQ 5 list
  KEYS[5]  delayed      ZSET
  KEYS[6]  prioritized  ZSET
  KEYS[7]  completed    ZSET
  KEYS[8]  failed       ZSET
  KEYS[9]  repeat       ZSET    job schedulers (their `repeat:<id>` hashes too)

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  batch size (jobs per call)
  ARGV[3]  "force" to remove active jobs too, "" to refuse

  Returns a refusal, having changed nothing: -100 (QUEUE_NOT_PAUSED) not paused,
  {-101, active count} (QUEUE_HAS_ACTIVE_JOBS) active jobs and no force; else
  1 when more remains, 0 when the queue is gone. Like BullMQ, `limiter` and
  `waiting-children` are left alone.
]]

local base, batch_size = ARGV[1], tonumber(ARGV[2])
if redis.call("HEXISTS", KEYS[1], "paused") == 0 then
  return -100
end
if ARGV[3] ~= "force" then
  local active = redis.call("LLEN", KEYS[2])
  if active > 0 then
    return {-101, active}
  end
end

local function remove_job(id)
  local job_key = base .. id
  local dedup_id = redis.call("HGET", job_key, "deid")
  if dedup_id then
    redis.call("DEL", base .. "de:" .. dedup_id)
  end
  redis.call("DEL", job_key, job_key .. ":lock", job_key .. ":logs",
    job_key .. ":dependencies", job_key .. ":processed", job_key .. ":failed",
    job_key .. ":unsuccessful")
end

local budget = batch_size
for i = 2, 4 do
  local ids = redis.call("LRANGE", KEYS[i], 0, budget - 1)
  for _, id in ipairs(ids) do
    remove_job(id)
  end
  redis.call("LTRIM", KEYS[i], #ids, -1)
  budget = budget - #ids
  if budget <= 0 then
    return 1
  end
end
for i = 5, 9 do
  local ids = redis.call("ZRANGE", KEYS[i], 0, budget - 1)
  for _, id in ipairs(ids) do
    if i == 9 then
      redis.call("DEL", base .. "repeat:" .. id)
    else
      remove_job(id)
    end
  end
  if #ids > 0 then
    redis.call("ZREMRANGEBYRANK", KEYS[i], 0, #ids - 1)
  end
  budget = budget - #ids
  if budget <= 0 then
    return 1
  end
end

local leftovers = {"events", "delay", "stalled-check", "stalled", "id", "pc", "marker", "meta",
  "metrics:completed", "metrics:completed:data", "metrics:failed", "metrics:failed:data"}
for _, suffix in ipairs(leftovers) do
  redis.call("DEL", base .. suffix)
end
return 0
