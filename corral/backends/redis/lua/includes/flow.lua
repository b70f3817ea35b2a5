--[[
  Flows (included with `--- @include "flow"`): a child's link to its parent and a
  parent's four buckets of children, in BullMQ 6's layout, so Node and corral
  finish each other's flows.

  A child's hash holds `parentKey` (the parent's job key "<prefix>:<queue>:<id>")
  and `parent` (JSON {"id", "queueKey"} plus its failure flag: "fpof", "cpof",
  "idof" or "rdof" set to true). A parent's buckets, by child job key:
    <parent>:dependencies  SET   unprocessed (pending) children
    <parent>:processed     HASH  child -> its return value (JSON text)
    <parent>:failed        HASH  child -> failed reason ("ignored": cpof / idof)
    <parent>:unsuccessful  ZSET  child @ ms it failed ("failed": fpof)
  A parent waits in its queue's `waiting-children` ZSET until it is released.

  Keys of other queues are derived from the queue keys held in job keys and in
  `parent` fields, as Node's scripts derive them: on a Redis Cluster, every
  queue of one flow must share one hash slot (one braced prefix, e.g. "{app}").
  P below is a queue's key table, shaped like the including script's Q.
]]
--- @include "queue"

local flow_queue_cache = {}

-- The key table of the queue whose key is `queue_key` ("<prefix>:<queue>").
local function queue_at(queue_key)
  local P = flow_queue_cache[queue_key]
  if not P then
    local b = queue_key .. ":"
    P = {
      base = b, wait = b .. "wait", paused = b .. "paused", active = b .. "active",
      prioritized = b .. "prioritized", pc = b .. "pc", delayed = b .. "delayed",
      marker = b .. "marker", meta = b .. "meta", events = b .. "events", id = b .. "id",
      stalled = b .. "stalled", completed = b .. "completed", failed = b .. "failed",
      waiting_children = b .. "waiting-children",
    }
    flow_queue_cache[queue_key] = P
  end
  return P
end

-- The queue's settings, read once per script.
local function meta_of(P)
  if not P.M then
    P.M = read_meta(P.meta)
  end
  return P.M
end

-- "<queue key>", "<id>" of a job key (split at its last ":", as Node does).
local function split_job_key(job_key)
  return string.match(job_key, "^(.+):([^:]+)$")
end

local FAILURE_FLAGS = {"fpof", "cpof", "idof", "rdof"}

-- The parent named by a job's `parentKey` and `parent` fields (false when
-- absent): {key, queue, id, policy} or nil. The `parent` field wins (it carries
-- the failure flag); a child with only `parentKey` has no failure policy, as in
-- Node.
local function parent_from_fields(parent_key, parent_json)
  if parent_json then
    local ok, p = pcall(cjson.decode, parent_json)
    if ok and type(p) == "table" and type(p.id) == "string" and type(p.queueKey) == "string" then
      local policy = ""
      for _, flag in ipairs(FAILURE_FLAGS) do
        if p[flag] == true then
          policy = flag
          break
        end
      end
      return {key = p.queueKey .. ":" .. p.id, queue = p.queueKey, id = p.id, policy = policy}
    end
  end
  if parent_key and parent_key ~= "" then
    local queue_key, id = split_job_key(parent_key)
    if queue_key then
      return {key = parent_key, queue = queue_key, id = id, policy = ""}
    end
  end
  return nil
end

-- The parent of the job at `job_key` (see parent_from_fields).
local function parent_of(job_key)
  local f = redis.call("HMGET", job_key, "parentKey", "parent")
  return parent_from_fields(f[1], f[2])
end

-- Release a parent just taken out of waiting-children (or delayed): to delayed by
-- its own delay (due now + delay), else to prioritized, else to the front of wait.
local function release_parent(P, parent_key, parent_id, now)
  local M = meta_of(P)
  local f = redis.call("HMGET", parent_key, "priority", "delay")
  local priority, delay = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  if delay > 0 then
    local due = now + delay
    redis.call("ZADD", P.delayed, delayed_score(P, due), parent_id)
    emit(P, M, "delayed", "jobId", parent_id, "delay", due)
    add_delay_marker(P)
  else
    enqueue(P, parent_id, priority, true)
    if not paused_or_maxed(P, M) then
      add_base_marker(P)
    end
    emit(P, M, "waiting", "jobId", parent_id, "prev", "waiting-children")
  end
end

-- Release the parent if it exists and waits in waiting-children.
local function release_if_waiting(parent, now)
  local P = queue_at(parent.queue)
  if redis.call("EXISTS", parent.key) == 1
    and redis.call("ZREM", P.waiting_children, parent.id) == 1 then
    release_parent(P, parent.key, parent.id, now)
  end
end

-- ... and only if no child is pending any more.
local function release_if_no_pending(parent, now)
  if redis.call("SCARD", parent.key .. ":dependencies") == 0 then
    release_if_waiting(parent, now)
  end
end

-- A job may complete only with no pending child and no child in its failed
-- bucket: -4 / -9, or nil.
local function completion_refused(job_key)
  -- Empty sets are no keys: one look for the common case, a job with no children.
  if redis.call("EXISTS", job_key .. ":dependencies", job_key .. ":unsuccessful") == 0 then
    return nil
  end
  if redis.call("SCARD", job_key .. ":dependencies") ~= 0 then
    return -4
  end
  if redis.call("ZCARD", job_key .. ":unsuccessful") ~= 0 then
    return -9
  end
  return nil
end

-- The child at `child_key` completed with `value`.
local function on_child_completed(parent, child_key, value, now)
  if redis.call("SREM", parent.key .. ":dependencies", child_key) == 1 then
    redis.call("HSET", parent.key .. ":processed", child_key, value)
    release_if_no_pending(parent, now)
  end
end

-- The child at `child_key` failed for good with `reason`: what happens to the
-- parent is the child's failure flag's business (none: it stays pending).
local function on_child_failed(parent, child_key, reason, now)
  local policy = parent.policy
  if policy == "" or redis.call("SREM", parent.key .. ":dependencies", child_key) == 0 then
    return
  end
  if policy == "fpof" then
    redis.call("ZADD", parent.key .. ":unsuccessful", now, child_key)
    if redis.call("EXISTS", parent.key) == 0 then
      return
    end
    local P = queue_at(parent.queue)
    local failure = "child " .. child_key .. " failed"
    local held = redis.call("ZREM", P.waiting_children, parent.id) == 1
    if not held and redis.call("ZREM", P.delayed, parent.id) == 1 then
      redis.call("HSET", parent.key, "delay", 0)
      held = true
    end
    if held then
      redis.call("HSET", parent.key, "defa", failure)
      release_parent(P, parent.key, parent.id, now)
    elseif not redis.call("ZSCORE", P.failed, parent.id) then
      redis.call("HSET", parent.key, "defa", failure)
    end
  elseif policy == "cpof" then
    redis.call("HSET", parent.key .. ":failed", child_key, reason)
    release_if_waiting(parent, now)
  else
    release_if_no_pending(parent, now)
    if policy == "idof" then
      redis.call("HSET", parent.key .. ":failed", child_key, reason)
    end
  end
end

-- The child at `child_key` is going away: it leaves the parent's pending
-- children, and the parent is released if it was the last.
local function drop_dependency(parent, child_key, now)
  if redis.call("SREM", parent.key .. ":dependencies", child_key) == 1 then
    release_if_no_pending(parent, now)
  end
end

-- A finished child runs again: back into its parent's pending children if it had
-- left them for a bucket of `state` ("completed" or "failed").
local function back_to_dependencies(parent, child_key, state)
  if redis.call("EXISTS", parent.key) == 0 then
    return
  end
  local moved
  if state == "completed" then
    moved = redis.call("HDEL", parent.key .. ":processed", child_key)
  else
    moved = redis.call("ZREM", parent.key .. ":unsuccessful", child_key)
      + redis.call("HDEL", parent.key .. ":failed", child_key)
  end
  if moved > 0 then
    redis.call("SADD", parent.key .. ":dependencies", child_key)
  end
end

-- The child keys in all four buckets of the job at `job_key`.
local function children_of(job_key)
  local out = {}
  for _, list in ipairs({
    redis.call("HKEYS", job_key .. ":processed"),
    redis.call("HKEYS", job_key .. ":failed"),
    redis.call("ZRANGE", job_key .. ":unsuccessful", 0, -1),
    redis.call("SMEMBERS", job_key .. ":dependencies"),
  }) do
    for _, key in ipairs(list) do
      out[#out + 1] = key
    end
  end
  return out
end

-- Whether a job reachable from `job_key` through pending children holds a lock.
local function descendant_locked(job_key)
  local stack, seen = {job_key}, {[job_key] = true}
  while #stack > 0 do
    local key = table.remove(stack)
    for _, child in ipairs(redis.call("SMEMBERS", key .. ":dependencies")) do
      if not seen[child] then
        seen[child] = true
        if redis.call("EXISTS", child .. ":lock") == 1 then
          return true
        end
        stack[#stack + 1] = child
      end
    end
  end
  return false
end

-- Where a job may be, by the key it is taken from (Node's `removed` prev names:
-- "wait", not "waiting"): sorted sets first (O(1)).
local SORTED_STATES = {"completed", "waiting-children", "delayed", "failed", "prioritized"}
local LIST_STATES = {"wait", "paused", "active"}

-- Remove one job of any queue from wherever it is, with its keys; event `removed`.
local function remove_anywhere(job_key)
  if redis.call("EXISTS", job_key) == 0 then
    return
  end
  local queue_key, id = split_job_key(job_key)
  local P = queue_at(queue_key)
  local prev = "unknown"
  for _, state in ipairs(SORTED_STATES) do
    if redis.call("ZREM", P.base .. state, id) == 1 then
      prev = state
      break
    end
  end
  if prev == "unknown" then
    for _, list in ipairs(LIST_STATES) do
      if redis.call("LREM", P.base .. list, 1, id) == 1 then
        prev = list
        break
      end
    end
  end
  redis.call("SREM", P.stalled, id)
  local dedup_id = redis.call("HGET", job_key, "deid")
  if dedup_id then
    local dedup_key = P.base .. "de:" .. dedup_id
    if redis.call("GET", dedup_key) == id then
      redis.call("DEL", dedup_key)
    end
  end
  remove_job_keys(job_key)
  emit(P, meta_of(P), "removed", "jobId", id, "prev", prev)
end

-- Remove every descendant of the job at `job_key` (all four buckets, any depth),
-- children before their parents. Their parents are being removed too, so no
-- parent is released on the way.
local function remove_descendants(job_key)
  local order, seen, next_index = {}, {[job_key] = true}, 1
  local frontier = {job_key}
  while next_index <= #frontier do
    local key = frontier[next_index]
    next_index = next_index + 1
    for _, child in ipairs(children_of(key)) do
      if not seen[child] then
        seen[child] = true
        frontier[#frontier + 1] = child
        order[#order + 1] = child
      end
    end
  end
  for i = #order, 1, -1 do
    remove_anywhere(order[i])
  end
end
