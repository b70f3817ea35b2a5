--[[
  resume: hand out jobs again, and move a legacy BullMQ 5 `paused` list into
  wait (whole by RENAME when wait is absent, else at most 7000 entries per call,
  appended at the consuming end so they run first and in their order). The
  caller repeats the call, with ARGV[1] = "0", while entries remain.

  KEYS[1]  meta         HASH    loses `paused`
  KEYS[2]  paused       LIST    legacy list to migrate
  KEYS[3]  wait         LIST    destination
  KEYS[4]  prioritized  ZSET    counted for the marker
  KEYS[5]  delayed      ZSET    for the delay marker
  KEYS[6]  marker       ZSET    wake-up marker
  KEYS[7]  events       STREAM  event log

  ARGV[1]  "1" to emit `resumed`, "0" not (repeat calls)

  Returns how many legacy entries are left to migrate.
]]
--- @include "queue"

local Q = {
  meta = KEYS[1], wait = KEYS[3], prioritized = KEYS[4], delayed = KEYS[5],
  marker = KEYS[6], events = KEYS[7],
}
local legacy = KEYS[2]
local M = read_meta(Q.meta)
redis.call("HDEL", Q.meta, "paused")

local left = 0
if redis.call("EXISTS", legacy) == 1 then
  if redis.call("EXISTS", Q.wait) == 0 then
    redis.call("RENAME", legacy, Q.wait)
  else
    local batch = redis.call("LRANGE", legacy, 0, 6999)
    redis.call("RPUSH", Q.wait, unpack(batch))
    redis.call("LTRIM", legacy, #batch, -1)
    left = redis.call("LLEN", legacy)
  end
end

if redis.call("LLEN", Q.wait) + redis.call("ZCARD", Q.prioritized) > 0 then
  add_base_marker(Q)
else
  add_delay_marker(Q)
end
if ARGV[1] == "1" then
  emit(Q, M, "resumed")
end
return left
