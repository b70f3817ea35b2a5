--[[
  pause: stop handing out jobs (BullMQ 6: jobs stay where they are).

  KEYS[1]  meta    HASH    gets paused = 1
  KEYS[2]  marker  ZSET    deleted, so no worker wakes for work it may not take
  KEYS[3]  events  STREAM  event log

  Returns 0. Event: paused.
]]
--- @include "queue"

local Q = {meta = KEYS[1], marker = KEYS[2], events = KEYS[3]}
local M = read_meta(Q.meta)
redis.call("HSET", Q.meta, "paused", 1)
redis.call("DEL", Q.marker)
emit(Q, M, "paused")
return 0
