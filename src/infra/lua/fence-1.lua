-- fence-1.lua: verifies a fence, and arms a new epoch when the fence cannot be trusted.
--
-- KEYS[1]  a fence key; its value is "<epoch>|<run_id>" (a namespace has one fence on a single
--          server, one per bucket on a Redis Cluster: see cache-format.ts)
-- ARGV[1]  what to do ("arm" when absent):
--          "check"  report only; never writes
--          "arm"    arm a new epoch if the fence cannot be trusted
--          "raise"  as "arm", and move a trusted fence whose epoch is below ARGV[2] up to ARGV[2]
--                   (the buckets of a namespace are kept at one epoch: redis-cache.ts)
-- ARGV[2]  a floor (epoch, base 36; "" for none): a newly armed epoch is above it and above the
--          fence's previous epoch; for "raise", also the epoch to raise to
--
-- The fence is trusted when it exists and was armed on this very server process (same run_id).
-- Otherwise Redis may have lost writes since entries were stored: the key is gone (FLUSHALL, a
-- restart without persistence, eviction), or the server is another process than the one that armed
-- it (a restart, which may have lost the last second of an append-only file; a replica promoted
-- while it lacked the last writes; a slot moved to another node). Then a new epoch is armed:
-- entries stamped with an older epoch are no longer served, and "set" writes of data read before
-- this moment are refused.
--
-- Returns {epoch ("" when none), 1 when a new epoch was armed else 0, the previous epoch or "",
--          1 when the fence is now trusted else 0}.
local op = ARGV[1] or 'arm'
local floor = ARGV[2] or ''
local fence = redis.call('GET', KEYS[1])
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local e, r
if fence then
  e, r = string.match(fence, '^([0-9a-z]+)|(%x+)$')
end
if e and r == run_id then
  if op == 'raise' and floor ~= '' and tonumber(floor, 36) > tonumber(e, 36) then
    redis.call('SET', KEYS[1], floor .. '|' .. run_id)
    return {floor, 0, e, 1}
  end
  return {e, 0, e, 1}
end
local previous = e or ''
if op == 'check' then
  return {previous, 0, previous, 0}
end
-- A new epoch: the server's clock in microseconds, but above the floor and the previous epoch
-- (clocks of different servers may disagree), in base 36 (exact below 2^53).
local t = redis.call('TIME')
local n = tonumber(t[1]) * 1000000 + tonumber(t[2])
for _, s in ipairs({floor, previous}) do
  if s ~= '' and tonumber(s, 36) and tonumber(s, 36) >= n then
    n = tonumber(s, 36) + 1
  end
end
local digits = '0123456789abcdefghijklmnopqrstuvwxyz'
local epoch = ''
repeat
  local d = n % 36
  epoch = string.sub(digits, d + 1, d + 1) .. epoch
  n = (n - d) / 36
until n == 0
redis.call('SET', KEYS[1], epoch .. '|' .. run_id)
return {epoch, 1, previous, 1}
