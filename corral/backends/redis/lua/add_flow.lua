--[[
  add_flow: add trees of jobs (parents before their children) atomically, exactly
  as Node BullMQ's FlowProducer stores them (includes/flow.lua has the layout).

  KEYS[1]  id  STRING  the first node's queue id counter (declared so the call
                       is routed by a queue key; every key is derived from the
                       bases and parent keys in ARGV, as Node derives them)

  ARGV[1]  now (epoch ms, the caller's): places a parent released at the end
           that has a delay
  ARGV[2..] 13 values per node: base key "<prefix>:<queue>:", custom id ("" =
           next counter value), name, data (JSON text), opts (JSON text),
           timestamp (ms), delay (ms), priority, lifo ("1"/"0"), is a parent of
           a later node ("1"/"0"), parent job key ("" = none), the `parent`
           field (JSON text), parent is an earlier node ("1"/"0")

  First every node is checked and nothing is written on a refusal: {-5, i} the
  parent of node i (0-based) is not an earlier node and does not exist; {-7, i}
  node i's id exists with another parent that still exists. Then each node, in
  order: INCR of its queue's id counter; an existing custom id is attached to
  its new parent (completed: the parent's processed bucket gets its return
  value; else its pending children) and emits `duplicated`; a new parent waits
  in waiting-children (score = its timestamp); any other job is placed as
  add_jobs places it; a child joins its parent's pending children. Last, every
  parent named in the call with no pending child is released.

  Returns the node ids in order.
  Events: added (jobId, name) then waiting-children (jobId) | waiting (jobId) |
  delayed (jobId, delay = due ms); or duplicated (jobId); then the releases'.
]]
--- @include "flow"

local STRIDE = 13
local now = tonumber(ARGV[1])
local first = 2

-- Checks, before any write.
for i = first, #ARGV, STRIDE do
  local base, custom_id = ARGV[i], ARGV[i + 1]
  local parent_key, parent_in_call = ARGV[i + 10], ARGV[i + 12] == "1"
  local index = (i - first) / STRIDE
  if parent_key ~= "" and not parent_in_call and redis.call("EXISTS", parent_key) == 0 then
    return {-5, index}
  end
  if custom_id ~= "" and parent_key ~= "" then
    local current = redis.call("HGET", base .. custom_id, "parentKey")
    if current and current ~= "" and current ~= parent_key
      and redis.call("EXISTS", current) == 1 then
      return {-7, index}
    end
  end
end

local ids = {}
local touched = {}      -- queue key -> {P, ready, delayed}, for the markers
local touched_order = {}
local parents = {}      -- parent key -> true, in `parent_order`
local parent_order = {}

for i = first, #ARGV, STRIDE do
  local base, custom_id, name, data, opts = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local timestamp, delay, priority, lifo = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local is_parent, parent_key, parent_field = ARGV[i + 9] == "1", ARGV[i + 10], ARGV[i + 11]
  local queue_key = string.sub(base, 1, -2)
  local P = queue_at(queue_key)
  local M = meta_of(P)
  local mark = touched[queue_key]
  if not mark then
    mark = {P = P, ready = false, delayed = false}
    touched[queue_key] = mark
    touched_order[#touched_order + 1] = queue_key
  end
  local counter = redis.call("INCR", P.id)
  local id = custom_id ~= "" and custom_id or tostring(counter)
  local job_key = base .. id
  if custom_id ~= "" and redis.call("EXISTS", job_key) == 1 then
    if parent_key ~= "" then
      if redis.call("ZSCORE", P.completed, id) then
        local value = redis.call("HGET", job_key, "returnvalue") or "null"
        redis.call("HSET", parent_key .. ":processed", job_key, value)
      else
        redis.call("SADD", parent_key .. ":dependencies", job_key)
      end
      redis.call("HSET", job_key, "parentKey", parent_key, "parent", parent_field)
    end
    emit(P, M, "duplicated", "jobId", id)
  else
    if parent_key ~= "" then
      redis.call("HSET", job_key, "name", name, "data", data, "opts", opts,
        "timestamp", timestamp, "delay", delay, "priority", priority,
        "parentKey", parent_key, "parent", parent_field)
    else
      redis.call("HSET", job_key, "name", name, "data", data, "opts", opts,
        "timestamp", timestamp, "delay", delay, "priority", priority)
    end
    emit_untrimmed(P, "added", "jobId", id, "name", name)
    local delay_ms = tonumber(delay)
    if is_parent then
      redis.call("ZADD", P.waiting_children, tonumber(timestamp), id)
      emit(P, M, "waiting-children", "jobId", id)
    elseif delay_ms > 0 then
      local due = tonumber(timestamp) + delay_ms
      redis.call("ZADD", P.delayed, delayed_score(P, due), id)
      emit(P, M, "delayed", "jobId", id, "delay", due)
      mark.delayed = true
    else
      enqueue(P, id, tonumber(priority), lifo == "1")
      emit(P, M, "waiting", "jobId", id)
      mark.ready = true
    end
    if parent_key ~= "" then
      redis.call("SADD", parent_key .. ":dependencies", job_key)
    end
  end
  if parent_key ~= "" and not parents[parent_key] then
    parents[parent_key] = true
    parent_order[#parent_order + 1] = parent_key
  end
  ids[#ids + 1] = id
end

for _, queue_key in ipairs(touched_order) do
  local mark = touched[queue_key]
  if mark.ready and not paused_or_maxed(mark.P, meta_of(mark.P)) then
    add_base_marker(mark.P)
  end
  if mark.delayed then
    add_delay_marker(mark.P)
  end
end

for _, parent_key in ipairs(parent_order) do
  local queue_key, parent_id = split_job_key(parent_key)
  if queue_key then
    release_if_no_pending({key = parent_key, queue = queue_key, id = parent_id}, now)
  end
end
return ids
