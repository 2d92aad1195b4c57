-- replace-if-equal-3.lua: the replay's repair of an entry the compare-and-set cannot fix: one
-- whose version no event ever had (tampered, or from a broken writer), or whose payload differs
-- from the events at the same version. It replaces the value only if it is still exactly what the
-- replay read, so a write that landed in between is never overwritten, and only if the fence still
-- holds the epoch the replay learnt before it read the events, armed on this server process (as a
-- "set" in cas-set-3.lua; the check is cas-rules.lua's, put in front of this text by redis-cache.ts).
--
-- KEYS[1]  the entry's key; KEYS[2] the namespace's fence key; KEYS[3] its change sequence
-- ARGV[1]  the value the replay read (and found wrong)
-- ARGV[2]  version, ARGV[3] kind, ARGV[4] payload, ARGV[5] TTL in ms (0: none); as cas-set-3.lua
-- ARGV[6]  the fence epoch the replay learnt before it read the events
-- ARGV[7]  the change channel ("" for none), as in cas-set-3.lua
--
-- Returns 1 when replaced, 0 when the value had changed, 2 when fenced.
local fence, epoch = cas_fence(KEYS[2])
if not cas_set_allowed(fence, epoch, ARGV[6]) then
  return 2
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local value = ARGV[2] .. '|' .. ARGV[3] .. '|' .. epoch .. '|' .. ARGV[4]
local ttl = tonumber(ARGV[5])
if ttl and ttl > 0 then
  redis.call('SET', KEYS[1], value, 'PX', ttl)
else
  redis.call('SET', KEYS[1], value)
end
if ARGV[7] and ARGV[7] ~= '' then
  local seq = redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', ARGV[7], cas_change(KEYS[3], seq, ARGV[2], ARGV[3], KEYS[1]))
end
return 1
