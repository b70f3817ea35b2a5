--[[
  get_dependencies: a page of a job's children in each of its four buckets
  (includes/flow.lua has the layout), exactly: keys are sorted (the failed
  bucket by failure time), and a cursor is the position of the next key.

  KEYS[1] job:processed     HASH  processed children: key -> return value
  KEYS[2] job:dependencies  SET   unprocessed children
  KEYS[3] job:failed        HASH  ignored children: key -> reason
  KEYS[4] job:unsuccessful  ZSET  failed children

  ARGV[1]  page size per bucket ("" = the whole bucket)
  ARGV[2..5] where to start in processed, unprocessed, ignored (the `failed`
           hash), failed (the `unsuccessful` sorted set): a position, or "" to
           skip that bucket

  Returns {processed {key, value, ...}, next, unprocessed {key ...}, next,
  ignored {key, reason, ...}, next, failed {key ...}, next}; next is the
  position where the following page starts, or -1 when the bucket is done.
]]

local limit = tonumber(ARGV[1])

-- Keys [from + 1, from + limit] of a sorted list, and the next position.
local function slice(keys, from)
  local last = #keys
  if limit then
    last = math.min(#keys, from + limit)
  end
  local page = {}
  for i = from + 1, last do
    page[#page + 1] = keys[i]
  end
  return page, last < #keys and last or -1
end

-- A page of a hash's fields with their values, flat.
local function hash_page(key, cursor)
  if cursor == "" then
    return {}, -1
  end
  local keys = redis.call("HKEYS", key)
  table.sort(keys)
  local page, nxt = slice(keys, tonumber(cursor))
  local flat = {}
  for start = 1, #page, 1000 do
    local chunk = {}
    for i = start, math.min(start + 999, #page) do
      chunk[#chunk + 1] = page[i]
    end
    local values = redis.call("HMGET", key, unpack(chunk))
    for i, field in ipairs(chunk) do
      flat[#flat + 1] = field
      flat[#flat + 1] = values[i] or "null"
    end
  end
  return flat, nxt
end

local function set_page(key, cursor)
  if cursor == "" then
    return {}, -1
  end
  local keys = redis.call("SMEMBERS", key)
  table.sort(keys)
  return slice(keys, tonumber(cursor))
end

local function zset_page(key, cursor)
  if cursor == "" then
    return {}, -1
  end
  local from = tonumber(cursor)
  local size = redis.call("ZCARD", key)
  local to = -1
  if limit then
    to = from + limit - 1
  end
  local page = redis.call("ZRANGE", key, from, to)
  local nxt = -1
  if limit and from + limit < size then
    nxt = from + limit
  end
  return page, nxt
end

local processed, next_processed = hash_page(KEYS[1], ARGV[2])
local unprocessed, next_unprocessed = set_page(KEYS[2], ARGV[3])
local ignored, next_ignored = hash_page(KEYS[3], ARGV[4])
local failed, next_failed = zset_page(KEYS[4], ARGV[5])
return {processed, next_processed, unprocessed, next_unprocessed, ignored, next_ignored,
  failed, next_failed}
