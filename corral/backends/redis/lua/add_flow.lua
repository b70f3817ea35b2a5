--[[
  add_flow: add trees of jobs (parents before their children) atomically, exactly
  as Node BullMQ's FlowProducer stores them (includes/flow.lua has the layout).

  KEYS[1..] blocks of 14 keys, one per queue the call touches (each node's and
           each parent's): id, meta, wait, paused, active, prioritized, pc,
           delayed, marker, events, stalled, completed, failed, waiting-children;
           then the hash of each node with a custom id; then, per parent named,
           its hash, `:dependencies` and `:processed`. ARGV says which is whose.

  ARGV[1]  now (epoch ms, the caller's): places a parent released at the end
           that has a delay
  ARGV[2]  how many queue blocks lead KEYS
  ARGV[3..] 15 values per node: the KEYS index of its queue's block, custom id
           ("" = next counter value), name, data (JSON text), opts (JSON text),
           timestamp (ms), delay (ms), priority, lifo ("1"/"0"), is a parent of
           a later node ("1"/"0"), parent job key ("" = none), the `parent`
           field (JSON text), parent is an earlier node ("1"/"0"), the KEYS index
           of its own hash ("" = no custom id), the KEYS index of its parent's
           three keys ("" = none)

  A node whose id comes from its queue's counter has its hash named here, from
  its queue's base key and that id (as a job popped from a list would).

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

local STRIDE = 15
local now = tonumber(ARGV[1])
local first = 3

-- The queue blocks in KEYS become the key tables queue_at hands out, so every
-- queue key the flow touches is one the caller declared.
local block_of = {}
for at = 1, tonumber(ARGV[2]) * 14, 14 do
  local queue_key = string.sub(KEYS[at], 1, -4) -- "<prefix>:<queue>" of "...:id"
  local P = {
    base = queue_key .. ":", id = KEYS[at], meta = KEYS[at + 1], wait = KEYS[at + 2],
    paused = KEYS[at + 3], active = KEYS[at + 4], prioritized = KEYS[at + 5],
    pc = KEYS[at + 6], delayed = KEYS[at + 7], marker = KEYS[at + 8],
    events = KEYS[at + 9], stalled = KEYS[at + 10], completed = KEYS[at + 11],
    failed = KEYS[at + 12], waiting_children = KEYS[at + 13],
  }
  flow_queue_cache[queue_key] = P
  block_of[at] = {queue_key = queue_key, P = P}
end

-- Checks, before any write.
for i = first, #ARGV, STRIDE do
  local custom_id, own = ARGV[i + 1], tonumber(ARGV[i + 13])
  local parent_at, parent_in_call = tonumber(ARGV[i + 14]), ARGV[i + 12] == "1"
  local parent_key = ARGV[i + 10]
  local index = (i - first) / STRIDE
  if parent_at and not parent_in_call and redis.call("EXISTS", KEYS[parent_at]) == 0 then
    return {-5, index}
  end
  if custom_id ~= "" and parent_at then
    local current = redis.call("HGET", KEYS[own], "parentKey")
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
  local custom_id, name, data, opts = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local timestamp, delay, priority, lifo = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local is_parent, parent_key, parent_field = ARGV[i + 9] == "1", ARGV[i + 10], ARGV[i + 11]
  local own, parent_at = tonumber(ARGV[i + 13]), tonumber(ARGV[i + 14])
  local block = block_of[tonumber(ARGV[i])]
  local queue_key, P = block.queue_key, block.P
  local M = meta_of(P)
  local mark = touched[queue_key]
  if not mark then
    mark = {P = P, ready = false, delayed = false}
    touched[queue_key] = mark
    touched_order[#touched_order + 1] = queue_key
  end
  local counter = redis.call("INCR", P.id)
  local id, job_key = custom_id, KEYS[own]
  if custom_id == "" then
    local counted = tostring(counter)
    id, job_key = counted, P.base .. counted
  end
  if custom_id ~= "" and redis.call("EXISTS", job_key) == 1 then
    if parent_at then
      if redis.call("ZSCORE", P.completed, id) then
        local value = redis.call("HGET", job_key, "returnvalue") or "null"
        redis.call("HSET", KEYS[parent_at + 2], job_key, value)
      else
        redis.call("SADD", KEYS[parent_at + 1], job_key)
      end
      redis.call("HSET", job_key, "parentKey", parent_key, "parent", parent_field)
    end
    emit(P, M, "duplicated", "jobId", id)
  else
    if parent_at then
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
    if parent_at then
      redis.call("SADD", KEYS[parent_at + 1], job_key)
    end
  end
  if parent_at and not parents[parent_key] then
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

-- The parents' keys and their queues' blocks are all in KEYS (queue_at finds
-- the blocks read above).
for _, parent_key in ipairs(parent_order) do
  local queue_key, parent_id = split_job_key(parent_key)
  if queue_key then
    release_if_no_pending({key = parent_key, queue = queue_key, id = parent_id}, now)
  end
end
return ids
