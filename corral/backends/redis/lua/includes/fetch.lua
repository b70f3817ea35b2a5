--[[
  Taking the next job on the common path (included with `--- @include "fetch"`
  by move_to_active and move_to_finished): BullMQ's moveToActive, as
  fetch_next in includes/queue.lua does it, with the fewest calls and closures.
  The including script defines `lib()` first: its helpers from includes/queue.lua,
  built on first need (only when due delayed jobs are promoted).
]]
--- @include "core"

-- Take the next job and lock it, with the fetch options in ARGV[i .. i+5]: token,
-- lock ms, limiter max, limiter window ms, worker name ("" = none) and the
-- highest delayed score due by now ((now + 1) * 4096 - 1, written by the caller:
-- a Lua number would be formatted on each call). `now` is the caller's now (ARGV
-- text).
-- Returns {job fields (flat) | 0, job id | 0, rate limit ms, next delayed due ms}.
--
-- A script that fetches several times (move_to_finished finishing several jobs)
-- repeats no look whose answer its own fetches cannot have changed: delayed jobs
-- already promoted up to the same due score, a limiter without a max already
-- found open, the base marker already added.
local fetch_promoted_upto, fetch_limiter_open, fetch_marked = nil, false, false
local function fetch_job(Q, M, base, i, now)
  local due = ARGV[i + 5]
  if due ~= fetch_promoted_upto then
    if redis.call("ZRANGEBYSCORE", Q.delayed, "0", due, "LIMIT", "0", "1")[1] then
      lib().promote_due(Q, M, base, tonumber(now))
    end
    fetch_promoted_upto = due
  end

  -- The rate limit (rate_limit_ttl in includes/queue.lua): the sentinel written
  -- by rate_limit stops everyone.
  local max_jobs = M.max or tonumber(ARGV[i + 2])
  if max_jobs or not fetch_limiter_open then
    local limited = tonumber(redis.call("GET", Q.limiter))
    if limited and (limited >= RATE_LIMIT_SENTINEL or (max_jobs and limited >= max_jobs)) then
      local ttl = redis.call("PTTL", Q.limiter)
      if ttl > 0 then
        return {0, 0, ttl, 0}
      end
      -- A counter without expiry would keep its window shut for ever.
      if ttl == -1 then
        redis.call("DEL", Q.limiter)
      end
    end
    fetch_limiter_open = not max_jobs
  end
  if M.paused or (M.concurrency and redis.call("LLEN", Q.active) >= M.concurrency) then
    return {0, 0, 0, 0}
  end

  local id = redis.call("RPOPLPUSH", Q.wait, Q.active)
  -- "0:<n>" entries are BullMQ 4 markers; drop them.
  while id and string.byte(id, 1) == 48 and string.sub(id, 1, 2) == "0:" do
    redis.call("LREM", Q.active, 1, id)
    id = redis.call("RPOPLPUSH", Q.wait, Q.active)
  end
  if not id then
    local popped = redis.call("ZPOPMIN", Q.prioritized)
    if not popped[1] then
      redis.call("DEL", Q.pc)
      local first = redis.call("ZRANGE", Q.delayed, "0", "0", "WITHSCORES")
      return {0, 0, 0, first[2] and math.floor(tonumber(first[2]) / 4096) or 0}
    end
    id = popped[1]
    redis.call("LPUSH", Q.active, id)
  end

  local job_key = base .. id
  -- A job carrying a deferred failure is failed at once, so it uses no slot.
  if max_jobs and redis.call("HEXISTS", job_key, "defa") == 0 then
    if redis.call("INCR", Q.limiter) == 1 then
      local window = tonumber(ARGV[i + 3]) or M.duration
      if window and window > 0 then
        redis.call("PEXPIRE", Q.limiter, math.floor(window))
      end
    end
  end
  redis.call("SET", job_key .. ":lock", ARGV[i], "PX", ARGV[i + 1])
  emit_untrimmed(Q, "active", "jobId", id, "prev", "waiting")
  local name = ARGV[i + 4]
  if name ~= "" then
    redis.call("HSET", job_key, "processedOn", now, "pb", name)
  else
    redis.call("HSET", job_key, "processedOn", now)
  end
  bump(job_key, "ats")
  -- Wake another idle worker: there may be more work.
  if not fetch_marked then
    add_base_marker(Q)
    fetch_marked = true
  end
  return {redis.call("HGETALL", job_key), id, 0, 0}
end
