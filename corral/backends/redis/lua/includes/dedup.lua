--[[
  Deduplication (included with `--- @include "dedup"`): BullMQ 6's rules for the
  `de:<id>` key (the id of the job owning deduplication id <id>, with PX = ttl,
  or no expiry: it goes when its owner finishes) and `dn:<id>` (the job kept
  aside by keepLastIfActive while the owner is active).

  D: the deduplication options of one add, from its JSON: id, ttl (ms), extend,
  replace, keepLastIfActive, reschedule; D.key and D.next are its `de:` and `dn:`
  keys (passed in KEYS by the caller).
]]
--- @include "queue"

local function dedup_set(D, job_id)
  if not D.keepLastIfActive and D.ttl and D.ttl > 0 then
    redis.call("SET", D.key, job_id, "PX", D.ttl)
  else
    redis.call("SET", D.key, job_id)
  end
end

local function dedup_event(Q, M, kept, D, refused)
  emit(Q, M, "deduplicated", "jobId", kept, "deduplicationId", D.id, "deduplicatedJobId", refused)
end

-- A key without expiry whose owner is gone (lost in an outage) is stale: the
-- incoming job takes it over.
local function dedup_recover_stale(D, base, owner, job_id)
  if owner and redis.call("PTTL", D.key) == -1 and redis.call("EXISTS", base .. owner) == 0 then
    redis.call("DEL", D.next)
    dedup_set(D, job_id)
    return true
  end
  return false
end

-- keepLastIfActive: an add that meets an active owner is kept aside (the latest
-- wins) and the owner's key stops expiring while it runs.
local function dedup_keep_next(Q, M, D, owner, job_id, name, data, opts)
  if not D.keepLastIfActive or not owner then
    return false
  end
  if not redis.call("LPOS", Q.active, owner) then
    return false
  end
  redis.call("DEL", D.next)
  redis.call("HSET", D.next, "name", name, "data", data, "opts", opts, "jid", job_id)
  redis.call("PERSIST", D.key)
  dedup_event(Q, M, owner, D, job_id)
  return true
end

-- Apply an add's deduplication before the job is stored as `job_id`: returns
-- the id of the job kept instead (nothing is to be added), or nil (add it; the
-- key now names `job_id`).
local function deduplicate(Q, M, base, D, job_id, name, data, opts, timestamp, delay)
  local owner = redis.call("GET", D.key)
  if D.replace then
    if not owner then
      dedup_set(D, job_id)
      return nil
    end
    if redis.call("ZREM", Q.delayed, owner) == 1 then
      remove_job_keys(base .. owner)
      emit_untrimmed(Q, "removed", "jobId", owner, "prev", "delayed")
      dedup_event(Q, M, job_id, D, owner)
      redis.call("DEL", D.next)
      if not D.keepLastIfActive and not D.extend and D.ttl and D.ttl > 0 then
        redis.call("SET", D.key, job_id, "KEEPTTL")
      else
        dedup_set(D, job_id)
      end
      return nil
    end
    if dedup_recover_stale(D, base, owner, job_id) then
      return nil
    end
    dedup_keep_next(Q, M, D, owner, job_id, name, data, opts)
    return owner
  end
  if not owner then
    dedup_set(D, job_id)
    return nil
  end
  if dedup_recover_stale(D, base, owner, job_id) then
    return nil
  end
  if dedup_keep_next(Q, M, D, owner, job_id, name, data, opts) then
    return owner
  end
  if D.extend and D.ttl and D.ttl > 0 then
    dedup_set(D, owner)
  end
  dedup_event(Q, M, owner, D, job_id)
  if D.reschedule and redis.call("ZSCORE", Q.delayed, owner) then
    local due = timestamp + delay
    redis.call("HSET", base .. owner, "delay", delay)
    redis.call("ZADD", Q.delayed, delayed_score(Q, due), owner)
    emit(Q, M, "delayed", "jobId", owner, "delay", due)
    add_delay_marker(Q)
  end
  return owner
end

-- keepLastIfActive: when the owner of `dedup_id` finishes, the add kept aside
-- while it ran (`dn:<id>`) is added now, under the id it was given then, and
-- takes the deduplication id over. Needs Q.id, Q.delayed, Q.wait,
-- Q.prioritized, Q.pc, Q.marker, Q.active, Q.events.
local function dedup_requeue(Q, M, base, dedup_id, now)
  local next_key = base .. "dn:" .. dedup_id
  local kept = redis.call("HMGET", next_key, "name", "data", "opts", "jid")
  if not kept[1] then
    return
  end
  local counter = redis.call("INCR", Q.id)
  local id = kept[4] or tostring(counter)
  local opts = cjson.decode(kept[3])
  local D = type(opts["de"]) == "table" and opts["de"] or {}
  D.key = base .. "de:" .. dedup_id
  dedup_set(D, id)
  local delay = tonumber(opts["delay"]) or 0
  local priority = tonumber(opts["priority"]) or 0
  local job_key = base .. id
  redis.call("HSET", job_key, "name", kept[1], "data", kept[2], "opts", kept[3],
    "timestamp", now, "delay", delay, "priority", priority, "deid", dedup_id)
  emit_untrimmed(Q, "added", "jobId", id, "name", kept[1])
  if delay > 0 then
    redis.call("ZADD", Q.delayed, delayed_score(Q, now + delay), id)
    emit(Q, M, "delayed", "jobId", id, "delay", now + delay)
    add_delay_marker(Q)
  else
    enqueue(Q, id, priority, opts["lifo"] == true)
    if not paused_or_maxed(Q, M) then
      add_base_marker(Q)
    end
    emit(Q, M, "waiting", "jobId", id)
  end
  redis.call("DEL", next_key)
end
