--[[
  get_cancel_requests: which of the given jobs are marked to be cancelled (their
  `defa` field holds a reason that starts with ARGV[1], written by cancel_job).

  No queue keys: every key is the hash of one job asked about, one per job.

  ARGV[1]  the prefix of a cancel reason ("cancelled: ")

  Returns a flat list: the key's position (1-based), the reason, ... for the
  marked jobs only.
]]

local prefix = ARGV[1]
local found = {}
for i, job_key in ipairs(KEYS) do
  local mark = redis.call("HGET", job_key, "defa")
  if mark and string.sub(mark, 1, #prefix) == prefix then
    found[#found + 1] = i
    found[#found + 1] = mark
  end
end
return found
