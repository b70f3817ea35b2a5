--[[
  Where a job is (included with `--- @include "state"`): the one reading of a
  job's state, used by get_state and by every refusal that reports the state.

  Refusal replies: a plain negative integer is a code alone; a table
  {code, detail} is a code with what the store knows about it (the job's state
  name, or a count). scripts.refusal in Python is the one reader of both.
]]

-- The keys job_state reads, derived from the queue's base key.
local function state_keys(base)
  return {
    completed = base .. "completed", failed = base .. "failed", delayed = base .. "delayed",
    prioritized = base .. "prioritized", active = base .. "active", wait = base .. "wait",
    paused = base .. "paused", waiting_children = base .. "waiting-children",
  }
end

-- The state name of job `id` ("unknown" when there is no such job), checked in
-- BullMQ's order. `S` holds the key names (see state_keys); `job_key` its hash.
local function job_state(S, job_key, id)
  if redis.call("EXISTS", job_key) == 0 then
    return "unknown"
  end
  for _, name in ipairs({"completed", "failed", "delayed", "prioritized"}) do
    if redis.call("ZSCORE", S[name], id) then
      return name
    end
  end
  if redis.call("LPOS", S.active, id) then
    return "active"
  end
  if redis.call("LPOS", S.wait, id) or redis.call("LPOS", S.paused, id) then
    return "waiting"
  end
  if redis.call("ZSCORE", S.waiting_children, id) then
    return "waiting-children"
  end
  return "unknown"
end

-- A refusal carrying the job's state: {code, state}. Only on the refusal path,
-- so the reads cost nothing when an operation succeeds.
local function refuse_with_state(code, base, id)
  return {code, job_state(state_keys(base), base .. id, id)}
end
