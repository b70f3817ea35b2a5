--[[
  get_jobs: jobs in the given states, state after state, sliced over the whole
  concatenation.

  KEYS[1]  base  the queue's base key "<prefix>:<queue>:": the job hashes are read
                 by the ids the ranges hold, found while the script runs; on a
                 Redis Cluster they share the queue's slot (a braced prefix)
  KEYS[2..] the queue's key of each state asked for, in ARGV[3..]'s order

  ARGV[1]  start (0-based, inclusive)
  ARGV[2]  end (inclusive; -1 = to the last)
  ARGV[3..] key suffixes: wait, active, delayed, prioritized, completed, failed,
            waiting-children

  Order within a state: wait as it will be fetched (tail first); active most
  recently fetched first (head first); completed and failed most recently
  finished first; delayed, prioritized, waiting-children by score.

  Returns {id, {flat fields}, id, {flat fields}, ...}; ids without a hash are
  skipped (the caller also drops ids that name the queue's own hashes, like meta).
]]

local base = KEYS[1]
local start, stop = tonumber(ARGV[1]), tonumber(ARGV[2])
local reply = {}
local offset = 0 -- position of the current state's first job in the concatenation

for i = 3, #ARGV do
  local suffix = ARGV[i]
  local key = KEYS[i - 1]
  local is_list = suffix == "wait" or suffix == "active"
  local size = is_list and redis.call("LLEN", key) or redis.call("ZCARD", key)
  local from = math.max(start - offset, 0)
  local to = size - 1
  if stop >= 0 then
    to = math.min(stop - offset, size - 1)
  end
  if from <= to then
    local ids
    if suffix == "wait" then
      -- the tail is fetched first: read the mirrored range and reverse it
      local part = redis.call("LRANGE", key, size - 1 - to, size - 1 - from)
      ids = {}
      for j = #part, 1, -1 do
        ids[#ids + 1] = part[j]
      end
    elseif suffix == "active" then
      ids = redis.call("LRANGE", key, from, to)
    elseif suffix == "completed" or suffix == "failed" then
      ids = redis.call("ZREVRANGE", key, from, to)
    else
      ids = redis.call("ZRANGE", key, from, to)
    end
    for _, id in ipairs(ids) do
      -- pcall: an id naming one of the queue's own keys (a list, a stream) is no job.
      local fields = redis.pcall("HGETALL", base .. id)
      if not fields.err and #fields > 0 then
        reply[#reply + 1] = id
        reply[#reply + 1] = fields
      end
    end
  end
  offset = offset + size
  if stop >= 0 and offset > stop then
    break
  end
end
return reply
