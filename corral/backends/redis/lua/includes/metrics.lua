--[[
  collect_metrics: count one finished job in the queue's per-minute metrics, the
  way BullMQ's workers do (Worker `metrics.maxDataPoints`), so Node's
  `queue.getMetrics()` and Bull Board read them.

  meta_key  HASH  `metrics:completed` | `metrics:failed`: count (every job counted),
                  prevTS (ms of the last closed minute's update), prevCount (count then)
  data_key  LIST  `<meta_key>:data`: jobs per closed minute, newest first, at most
                  max_points long
  max_points      how many minutes to keep
  now             the finishing job's time (epoch ms, the caller's)

  jobs            how many jobs finished at `now`'s minute are counted (a run of
                  them counts as that many calls for one job each would: only the
                  run's first job can close a minute)

  A job is counted at once; the minutes are closed lazily, by the first job of a
  later minute: it pushes the closed minute's count, then a 0 for each minute
  between with no job (newest at the head).
]]
local function collect_metrics(meta_key, data_key, max_points, now, jobs)
  local before = redis.call("HINCRBY", meta_key, "count", jobs) - jobs
  local prev_ts = redis.call("HGET", meta_key, "prevTS")
  if not prev_ts then
    redis.call("HSET", meta_key, "prevTS", now, "prevCount", 0)
    return
  end
  local minutes = math.floor(now / 60000) - math.floor(tonumber(prev_ts) / 60000)
  if minutes > max_points then
    minutes = max_points
  end
  if minutes <= 0 then
    return
  end
  local prev_count = tonumber(redis.call("HGET", meta_key, "prevCount")) or 0
  redis.call("LPUSH", data_key, before - prev_count)
  local idle = minutes - 1
  while idle > 0 do
    local batch = {}
    for i = 1, math.min(idle, 5000) do
      batch[i] = 0
    end
    redis.call("LPUSH", data_key, unpack(batch))
    idle = idle - #batch
  end
  redis.call("LTRIM", data_key, 0, max_points - 1)
  redis.call("HSET", meta_key, "prevCount", before, "prevTS", now)
end

-- The jobs of one script call counted together: per metrics hash, the run of
-- jobs finished in the same minute (and keeping as many minutes) since the run's
-- first; a job of another minute counts the run so far first. Call
-- flush_metrics() before the script returns.
local metric_runs = {}
local function count_finished(meta_key, data_key, max_points, now)
  local minute = math.floor(tonumber(now) / 60000)
  local run = metric_runs[meta_key]
  if run then
    if run[2] == minute and run[3] == max_points then
      run[5] = run[5] + 1
      return
    end
    collect_metrics(meta_key, run[1], run[3], run[4], run[5])
  end
  metric_runs[meta_key] = {data_key, minute, max_points, now, 1}
end

local function flush_metrics(meta_keys)
  for _, meta_key in ipairs(meta_keys) do
    local run = metric_runs[meta_key]
    if run then
      collect_metrics(meta_key, run[1], run[3], run[4], run[5])
      metric_runs[meta_key] = nil
    end
  end
end
