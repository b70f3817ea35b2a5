--[[
  Helpers shared by the scripts that move jobs (included with `--- @include "queue"`).

  Conventions:
    Q     a table of the queue's key names, filled by the including script from
          its KEYS (Q.wait, Q.active, Q.prioritized, Q.pc, Q.delayed, Q.marker,
          Q.meta, Q.events, Q.limiter, Q.stalled ...).
    M     the queue's settings, read once per script by read_meta.
    base  the queue's base key "<prefix>:<queue>:"; a job's hash is base .. id.
  Times are epoch ms numbers. Large numbers are handed to redis.call as numbers
  (converted exactly), never through tostring/.. (which keeps only 14 digits).
  Constant arguments on the paths every job takes are written as strings ("1",
  not 1): Redis turns a Lua number into text with a costly "%.17g" each call.
]]
--- @include "state"

local RATE_LIMIT_SENTINEL = 9007199254740991

-- The queue's settings in one read. Like Node, store the default events length
-- the first time a script needs it.
-- Add 1 to a job's counter field and return the new value. A value that is not
-- an integer (a hand-edited or corrupt hash) is replaced by 1 instead of making
-- HINCRBY raise: a script that errors half way keeps what it already wrote, and
-- the job could be left in no list at all.
local function bump(job_key, field)
  local n = redis.pcall("HINCRBY", job_key, field, "1")
  if type(n) == "table" and n.err then
    redis.call("HSET", job_key, field, "1")
    return 1
  end
  return n
end

local function read_meta(meta_key)
  local m = redis.call("HMGET", meta_key, "paused", "concurrency", "max", "duration",
    "opts.maxLenEvents")
  local max_events = tonumber(m[5])
  -- The stored text itself when it is plain digits (see the conventions above).
  local max_events_arg = max_events
  if not max_events then
    max_events, max_events_arg = 10000, "10000"
    redis.call("HSET", meta_key, "opts.maxLenEvents", max_events)
  elseif string.match(m[5], "^%d+$") then
    max_events_arg = m[5]
  end
  return {
    paused = m[1] ~= false,
    concurrency = tonumber(m[2]),
    max = tonumber(m[3]),
    duration = tonumber(m[4]),
    max_events = max_events,
    max_events_arg = max_events_arg,
  }
end

-- Paused, or global concurrency reached: no job may be handed out, and no base
-- marker is added (it would wake workers for nothing).
local function paused_or_maxed(Q, M)
  if M.paused then
    return true
  end
  if M.concurrency then
    return redis.call("LLEN", Q.active) >= M.concurrency
  end
  return false
end

local function emit(Q, M, ...)
  redis.call("XADD", Q.events, "MAXLEN", "~", M.max_events_arg or M.max_events, "*", "event", ...)
end

-- Node writes `added` and `active` without trimming; so do we.
local function emit_untrimmed(Q, ...)
  redis.call("XADD", Q.events, "*", "event", ...)
end

local function add_base_marker(Q)
  redis.call("ZADD", Q.marker, "0", "0")
end

-- Due time (ms) of the earliest delayed job, or nil.
local function next_delayed_due(Q)
  local first = redis.call("ZRANGE", Q.delayed, 0, 0, "WITHSCORES")
  if first[2] then
    return math.floor(tonumber(first[2]) / 4096)
  end
  return nil
end

local function add_delay_marker(Q)
  local due = next_delayed_due(Q)
  if due then
    redis.call("ZADD", Q.marker, due, "1")
  end
end

-- Score for a job due at `due` ms: due*4096 plus a sequence number, so jobs due
-- in the same ms keep their insertion order (at most 4096 distinct per ms).
local function delayed_score(Q, due)
  local low = due * 4096
  local high = low + 4095
  local last = redis.call("ZREVRANGEBYSCORE", Q.delayed, high, low, "WITHSCORES", "LIMIT", 0, 1)
  if last[2] then
    return math.min(tonumber(last[2]) + 1, high)
  end
  return low
end

-- Lower priority number first; FIFO within a priority through the counter.
local function priority_score(Q, priority)
  local n = redis.call("INCR", Q.pc)
  return priority * 4294967296 + n % 4294967296
end

-- Put a job that may run now into its line: prioritized by score, else wait
-- (LPUSH = back of the line; RPUSH = front, as the tail is taken first).
local function enqueue(Q, job_id, priority, front)
  if priority > 0 then
    redis.call("ZADD", Q.prioritized, priority_score(Q, priority), job_id)
  elseif front then
    redis.call("RPUSH", Q.wait, job_id)
  else
    redis.call("LPUSH", Q.wait, job_id)
  end
end

local function job_priority(job_key)
  return tonumber(redis.call("HGET", job_key, "priority")) or 0
end

-- Move delayed jobs that are due (at most 1000 per call) into their line.
local function promote_due(Q, M, base, now)
  local ids = redis.call("ZRANGEBYSCORE", Q.delayed, "0", (now + 1) * 4096 - 1, "LIMIT", "0", "1000")
  if #ids == 0 then
    return
  end
  redis.call("ZREM", Q.delayed, unpack(ids))
  for _, id in ipairs(ids) do
    local job_key = base .. id
    enqueue(Q, id, job_priority(job_key), false)
    redis.call("HSET", job_key, "delay", 0)
    emit(Q, M, "waiting", "jobId", id, "prev", "delayed")
  end
  if not paused_or_maxed(Q, M) then
    add_base_marker(Q)
  end
end

-- ms the queue stays rate limited for a worker whose limit is `max_jobs` (nil:
-- none); 0 when not limited. The sentinel written by rate_limit stops everyone.
local function rate_limit_ttl(Q, max_jobs)
  local value = tonumber(redis.call("GET", Q.limiter))
  if not value then
    return 0
  end
  if value >= RATE_LIMIT_SENTINEL or (max_jobs and value >= max_jobs) then
    local ttl = redis.call("PTTL", Q.limiter)
    if ttl > 0 then
      return ttl
    end
    -- A counter without expiry would keep its window shut for ever.
    if ttl == -1 then
      redis.call("DEL", Q.limiter)
    end
  end
  return 0
end

-- The fetch options from ARGV[i .. i+4]: token, lock ms, limiter max, limiter
-- window ms, worker name ("" = none).
local function fetch_options(i)
  local name = ARGV[i + 4]
  return {
    token = ARGV[i],
    lock_duration = ARGV[i + 1],
    max = tonumber(ARGV[i + 2]),
    duration = tonumber(ARGV[i + 3]),
    name = name ~= "" and name or nil,
  }
end

-- Take the next job and lock it with F.token (BullMQ's moveToActive).
-- Returns {job fields (flat) | 0, job id | 0, rate limit ms, next delayed due ms}.
local function fetch_next(Q, M, base, now, F)
  promote_due(Q, M, base, now)
  local max_jobs = M.max or F.max
  local ttl = rate_limit_ttl(Q, max_jobs)
  if ttl > 0 then
    return {0, 0, ttl, 0}
  end
  if paused_or_maxed(Q, M) then
    return {0, 0, 0, 0}
  end

  local id = redis.call("RPOPLPUSH", Q.wait, Q.active)
  -- "0:<n>" entries are BullMQ 4 markers; drop them.
  while id and string.sub(id, 1, 2) == "0:" do
    redis.call("LREM", Q.active, 1, id)
    id = redis.call("RPOPLPUSH", Q.wait, Q.active)
  end
  if not id then
    local popped = redis.call("ZPOPMIN", Q.prioritized)
    if popped[1] then
      id = popped[1]
      redis.call("LPUSH", Q.active, id)
    else
      redis.call("DEL", Q.pc)
      return {0, 0, 0, next_delayed_due(Q) or 0}
    end
  end

  local job_key = base .. id
  -- A job carrying a deferred failure is failed at once, so it uses no slot.
  if max_jobs and redis.call("HEXISTS", job_key, "defa") == 0 then
    if redis.call("INCR", Q.limiter) == 1 then
      local window = F.duration or M.duration
      if window and window > 0 then
        redis.call("PEXPIRE", Q.limiter, math.floor(window))
      end
    end
  end
  redis.call("SET", job_key .. ":lock", F.token, "PX", F.lock_duration)
  emit_untrimmed(Q, "active", "jobId", id, "prev", "waiting")
  if F.name then
    redis.call("HSET", job_key, "processedOn", now, "pb", F.name)
  else
    redis.call("HSET", job_key, "processedOn", now)
  end
  bump(job_key, "ats")
  -- Wake another idle worker: there may be more work.
  add_base_marker(Q)
  return {redis.call("HGETALL", job_key), id, 0, 0}
end

-- Check that `token` holds the lock of active job `id`; if so take the job out
-- of active and release its lock. Returns 0, or a refusal having changed
-- nothing: -1 no job, {-2, state} no lock (the state says whether the job
-- already finished), -6 another token's lock, {-3, state} not active.
local function take_from_active(Q, base, id, token)
  local job_key = base .. id
  if redis.call("EXISTS", job_key) == 0 then
    return -1
  end
  local lock_key = job_key .. ":lock"
  local holder = redis.call("GET", lock_key)
  if not holder then
    return refuse_with_state(-2, base, id)
  end
  if holder ~= token then
    return -6
  end
  if redis.call("LREM", Q.active, "-1", id) == 0 then
    return refuse_with_state(-3, base, id)
  end
  redis.call("DEL", lock_key)
  redis.call("SREM", Q.stalled, id)
  return 0
end

-- Delete a job's keys (its hash, lock, logs and flow bookkeeping).
local function remove_job_keys(job_key)
  redis.call("DEL", job_key, job_key .. ":lock", job_key .. ":logs",
    job_key .. ":dependencies", job_key .. ":processed", job_key .. ":failed",
    job_key .. ":unsuccessful")
end

-- Whether nothing is left to hand out or being processed (event `drained`).
local function is_drained(Q)
  return redis.call("LLEN", Q.wait) == 0 and redis.call("LLEN", Q.active) == 0
    and redis.call("ZCARD", Q.prioritized) == 0
end
