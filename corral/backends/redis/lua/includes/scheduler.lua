--[[
  Helpers of the job scheduler scripts (included with `--- @include "scheduler"`).

  A scheduler `<id>` is a member of the `repeat` ZSET (score = when its pending
  iteration runs, ms) and a hash `repeat:<id>` (name, every | pattern, tz, limit,
  startDate, endDate, offset, opts, data, ic = iterations made). Its iterations
  are jobs `repeat:<id>:<due ms>`, with `rjk` = the scheduler id, as Node BullMQ 6
  writes them. Numbers that become part of an id are whole ms below 10^14, which
  Lua's `..` writes exactly.
]]

-- When the next iteration of an `every` scheduler runs, and the offset of its
-- slots (due mod every): from the previous due time `prev` (nil for a new
-- scheduler), catching up past missed slots; a new one starts at startDate, else
-- at the next slot of a stored offset, else now.
local function every_next(prev, every, now, offset, start_date)
  offset = tonumber(offset) or 0
  local due
  if not prev then
    if start_date then
      due = math.max(tonumber(start_date), now)
    elseif offset > 0 then
      due = math.floor(now / every) * every + offset
      if due <= now then
        due = due + every
      end
    else
      due = now
    end
  else
    due = prev + every
    if due < now then
      due = math.floor(now / every) * every + offset
      if due <= now then
        due = due + every
      end
    end
  end
  if offset == 0 then
    offset = due - math.floor(due / every) * every
  end
  return math.floor(due), math.floor(offset)
end

-- Store iteration `id` (name, data, opts with jobId and delay set) and put it in
-- its line: delayed until timestamp + delay, else wait or prioritized.
local function add_iteration(Q, M, base, scheduler_id, id, name, data, opts_text,
                             timestamp, delay, priority, lifo)
  local opts = cjson.decode(opts_text)
  opts["jobId"] = id
  opts["delay"] = delay
  redis.call("INCR", Q.id)
  local job_key = base .. id
  redis.call("HSET", job_key, "name", name, "data", data, "opts", cjson.encode(opts),
    "timestamp", timestamp, "delay", delay, "priority", priority, "rjk", scheduler_id)
  emit_untrimmed(Q, "added", "jobId", id, "name", name)
  if delay > 0 then
    local due = timestamp + delay
    redis.call("ZADD", Q.delayed, delayed_score(Q, due), id)
    emit(Q, M, "delayed", "jobId", id, "delay", due)
    add_delay_marker(Q)
  else
    enqueue(Q, id, priority, lifo)
    if not paused_or_maxed(Q, M) then
      add_base_marker(Q)
    end
    emit(Q, M, "waiting", "jobId", id)
  end
end
