--[[
  The few helpers on every job move's common path (included with
  `--- @include "core"`; includes/queue.lua includes it too): the queue's
  settings, counters, events and the base marker. See includes/queue.lua for Q,
  M and the conventions.

  A script's top-level `local function`s are made anew on every call, and each
  costs Redis about as much as a cheap command: the scripts run for every job
  (move_to_active, move_to_finished) include only this and includes/fetch.lua at
  their top level, and build the rest on first need (see move_to_finished.lua).
]]

local RATE_LIMIT_SENTINEL = 9007199254740991

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

-- The queue's settings in one read. Like Node, store the default events length
-- the first time a script needs it.
local function read_meta(meta_key)
  local m = redis.call("HMGET", meta_key, "paused", "concurrency", "max", "duration",
    "opts.maxLenEvents")
  local max_events = tonumber(m[5])
  -- The stored text itself when it is plain digits (see the conventions above).
  local max_events_arg = max_events
  if not max_events then
    max_events, max_events_arg = 10000, "10000"
    redis.call("HSET", meta_key, "opts.maxLenEvents", "10000")
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
