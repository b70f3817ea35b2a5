--[[
  get_state: where a job is, in BullMQ's order of checks.

  KEYS[1]  completed         ZSET
  KEYS[2]  failed            ZSET
  KEYS[3]  delayed           ZSET
  KEYS[4]  prioritized       ZSET
  KEYS[5]  active            LIST
  KEYS[6]  wait              LIST
  KEYS[7]  paused            LIST  legacy BullMQ 5 list; its jobs are waiting
  KEYS[8]  waiting-children  ZSET
  KEYS[9]  job               HASH  the job

  ARGV[1]  job id

  Returns the state name: completed, failed, delayed, prioritized, active,
  waiting, waiting-children or unknown (also when the job does not exist).
]]
--- @include "state"

local S = {
  completed = KEYS[1], failed = KEYS[2], delayed = KEYS[3], prioritized = KEYS[4],
  active = KEYS[5], wait = KEYS[6], paused = KEYS[7], waiting_children = KEYS[8],
}
return job_state(S, KEYS[9], ARGV[1])
