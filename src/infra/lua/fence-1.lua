-- fence-1.lua: verifies a namespace's fence, and arms a new epoch when the fence cannot be trusted.
--
-- KEYS[1]  the namespace's fence key; its value is "<epoch>|<run_id>"
--
-- The fence is trusted when it exists and was armed on this very server process (same run_id).
-- Otherwise Redis may have lost writes since entries were stored: the key is gone (FLUSHALL, a
-- restart without persistence, eviction), or the server is another process than the one that armed
-- it (a restart, which may have lost the last second of an append-only file; a replica promoted
-- while it lacked the last writes). Then a new epoch is armed: entries stamped with an older epoch
-- are no longer served, and "set" writes of data read before this moment are refused.
--
-- Returns {epoch, 1 when a new epoch was armed else 0, the previous epoch or ""}.
local fence = redis.call('GET', KEYS[1])
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local previous = ''
if fence then
  local e, r = string.match(fence, '^([0-9a-z]+)|(%x+)$')
  if e and r == run_id then
    return {e, 0, e}
  end
  previous = e or ''
end
-- A new epoch: the server's clock in microseconds, in base 36 (exact below 2^53).
local t = redis.call('TIME')
local n = tonumber(t[1]) * 1000000 + tonumber(t[2])
local digits = '0123456789abcdefghijklmnopqrstuvwxyz'
local epoch = ''
repeat
  local d = n % 36
  epoch = string.sub(digits, d + 1, d + 1) .. epoch
  n = (n - d) / 36
until n == 0
if epoch == previous then
  epoch = epoch .. '0'
end
redis.call('SET', KEYS[1], epoch .. '|' .. run_id)
return {epoch, 1, previous}
