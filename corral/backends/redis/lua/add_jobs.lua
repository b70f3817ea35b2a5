--[[
  add_jobs: add a batch of jobs atomically, exactly as Node BullMQ stores them.

  KEYS[1] id           STRING  job id counter (INCR per job, custom id or not)
  KEYS[2] meta         HASH    queue settings (paused, concurrency, opts.maxLenEvents)
  KEYS[3] wait         LIST    plain jobs (LPUSH = back of the line, RPUSH = lifo)
  KEYS[4] active       LIST    read for the global concurrency check
  KEYS[5] prioritized  ZSET    prioritized jobs
  KEYS[6] pc           STRING  priority counter
  KEYS[7] delayed      ZSET    delayed jobs, score due*4096+seq
  KEYS[8] marker       ZSET    wake-up marker
  KEYS[9] events       STREAM  event log

  KEYS[10..] the hash of each job with a custom id, and the `de:<id>` and
           `dn:<id>` keys of each deduplicated job, in pairs (ARGV says which)

  ARGV[1]  base key "<prefix>:<queue>:" (of the jobs whose id the counter gives,
           and of a job named by a `de:` key)
  ARGV[2..] 11 values per job (flat rather than JSON, so the data text travels
           once and big numbers never pass through a Lua double):
           custom id ("" = next counter value), name, data (JSON text),
           opts (JSON text), timestamp (ms), delay (ms), priority, lifo ("1"/"0"),
           deduplication (BullMQ's `de` object as JSON, "" = none), the
           KEYS index of its `de:` key (its `dn:` key follows; "" = none), and
           the KEYS index of the custom id's hash ("" = no custom id)

  Returns the job ids in order. A custom id that exists adds nothing and
  returns that id (event `duplicated`). A deduplicated job whose id is taken
  adds nothing and returns the id of the job kept (includes/dedup.lua).
  Events: added (jobId, name); then waiting (jobId) or delayed (jobId, delay =
  absolute due ms).
]]
--- @include "queue"
--- @include "dedup"

local Q = {
  id = KEYS[1], meta = KEYS[2], wait = KEYS[3], active = KEYS[4], prioritized = KEYS[5],
  pc = KEYS[6], delayed = KEYS[7], marker = KEYS[8], events = KEYS[9],
}
local base = ARGV[1]
local M = read_meta(Q.meta)
local ids = {}
local any_ready = false
local any_delayed = false

for i = 2, #ARGV, 11 do
  local custom_id, name, data, opts = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local timestamp, delay, priority, lifo = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local counter = redis.call("INCR", Q.id)
  local id, job_key = custom_id, KEYS[tonumber(ARGV[i + 10])]
  if custom_id == "" then
    local counted = tostring(counter)
    id, job_key = counted, base .. counted
  end
  local D = nil
  local kept = nil
  if custom_id ~= "" and redis.call("EXISTS", job_key) == 1 then
    emit(Q, M, "duplicated", "jobId", id)
    kept = id
  elseif ARGV[i + 8] ~= "" then
    D = cjson.decode(ARGV[i + 8])
    local k = tonumber(ARGV[i + 9])
    D.key, D.next = KEYS[k], KEYS[k + 1]
    kept = deduplicate(Q, M, base, D, id, name, data, opts, tonumber(timestamp), tonumber(delay))
  end
  if kept then
    id = kept
  else
    redis.call("HSET", job_key, "name", name, "data", data, "opts", opts,
      "timestamp", timestamp, "delay", delay, "priority", priority)
    if D then
      redis.call("HSET", job_key, "deid", D.id)
    end
    emit_untrimmed(Q, "added", "jobId", id, "name", name)
    local delay_ms = tonumber(delay)
    if delay_ms > 0 then
      local due = tonumber(timestamp) + delay_ms
      redis.call("ZADD", Q.delayed, delayed_score(Q, due), id)
      emit(Q, M, "delayed", "jobId", id, "delay", due)
      any_delayed = true
    else
      enqueue(Q, id, tonumber(priority), lifo == "1")
      emit(Q, M, "waiting", "jobId", id)
      any_ready = true
    end
  end
  ids[#ids + 1] = id
end

if any_ready and not paused_or_maxed(Q, M) then
  add_base_marker(Q)
end
if any_delayed then
  add_delay_marker(Q)
end
return ids
