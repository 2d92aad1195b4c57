-- replace-if-equal-1.lua: the replay's repair of an entry the compare-and-set cannot fix: one
-- whose version no event ever had (tampered, or from a broken writer), or whose payload differs
-- from the events at the same version. It replaces the value only if it is still exactly what the
-- replay read, so a write that landed in between is never overwritten.
--
-- KEYS[1]  the entry's key
-- ARGV[1]  the value the replay read (and found wrong)
-- ARGV[2]  version, ARGV[3] kind, ARGV[4] payload, ARGV[5] TTL in ms (0: none); as cas-set-1.lua
--
-- Returns 1 when replaced, 0 when the value had changed.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local value = ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4]
local ttl = tonumber(ARGV[5])
if ttl and ttl > 0 then
  redis.call('SET', KEYS[1], value, 'PX', ttl)
else
  redis.call('SET', KEYS[1], value)
end
return 1
