--[[
  get_counts: how many jobs are in each of the given states.

  KEYS[1..] the queue's key of each state asked for, in ARGV's order

  ARGV[1..] their suffixes: wait, active, paused (lists: LLEN) or a sorted set
            name (delayed, prioritized, completed, failed, waiting-children: ZCARD)

  Returns the counts in ARGV order.
]]

local counts = {}
for i, suffix in ipairs(ARGV) do
  local key = KEYS[i]
  if suffix == "wait" or suffix == "active" or suffix == "paused" then
    counts[i] = redis.call("LLEN", key)
  else
    counts[i] = redis.call("ZCARD", key)
  end
end
return counts
