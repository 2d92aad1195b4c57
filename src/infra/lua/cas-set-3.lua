-- cas-set-3.lua: the only script that writes a product's cache entry. Versions only move forward,
-- and nothing older than the truth goes into a key whose history Redis may have lost.
--
-- KEYS[1]  the entry's key
-- KEYS[2]  the namespace's fence key ("<epoch>|<run_id>", see cache-format.ts and fence-1.lua)
-- KEYS[3]  the fence's change sequence (an integer, same slot as the fence)
-- ARGV[1]  version of the entry (integer >= 1)
-- ARGV[2]  kind: "p" product, "t" tombstone, "m" marker, "n" no such product (version 0)
-- ARGV[3]  payload: the product's JSON for "p", empty otherwise
-- ARGV[4]  time to live in milliseconds; 0 keeps the entry without expiry
-- ARGV[5]  mode, by how much the writer knows:
--          "set"     the writer read this state from PostgreSQL (fill, replay) or committed it
--                    (write-through) after it learnt the fence epoch ARGV[6]; refused ("fenced")
--                    unless the fence still holds that epoch, i.e. no loss was detected since,
--                    and was armed on this server process: a fence that came over with a promoted
--                    replica or a moved slot may sit over lost writes until someone re-arms it.
--          "advance" a consumer's state from an event: it is newer than real data ("p" or "t") of
--                    the current epoch, but may be older than the truth (a backlog), so over anything
--                    else (no entry, a marker, "n", another epoch) it is stored as a marker of its version.
--          "mark"    an invalidation: a marker "version N exists; nothing older may be filled".
-- ARGV[6]  ("set" only) the fence epoch the writer learnt before it read or committed its data
-- ARGV[7]  the namespace's change channel ("" for none): every change of the key is published
--          there as "<KEYS[3]>|<sequence>|<version>|<kind>|<KEYS[1]>", the sequence counting the
--          changes under this fence, so a subscriber (a near cache) sees a lost message as a gap
--
-- Stored value: "<version>|<kind>|<epoch>|<payload>", epoch being the fence's epoch now ("-" when
-- the fence is missing). Readers serve only "p" and "t" entries of the fence's current epoch.
-- Ordering: a newer version wins; an equal one is a no-op, except that a "set" replaces a marker
-- of its own version (the marker waits for exactly that data) and re-stamps an entry of another
-- epoch. A value that does not parse is overwritten.
--
-- Returns {code, version now in the key (0 when fenced), the fence's epoch or ""}:
--   1 stored, 0 refused (the key holds that version or a newer one), 2 fenced (set), 3 stored as a marker (advance)
local version = tonumber(ARGV[1])
local kind = ARGV[2]
local payload = ARGV[3]
local mode = ARGV[5]
local fence = redis.call('GET', KEYS[2])
local epoch = fence and string.match(fence, '^([0-9a-z]+)|') or nil
if mode == 'set' and (epoch == nil or epoch ~= ARGV[6]
    or string.match(fence, '|(%x+)$') ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')) then
  return {2, 0, epoch or ''}
end
if mode == 'mark' then
  kind = 'm'
  payload = ''
end
local current = redis.call('GET', KEYS[1])
local cv, ck, ce
if current then
  local v, k, e = string.match(current, '^(%d+)|([ptmn])|([0-9a-z%-]+)|')
  cv, ck, ce = tonumber(v), k, e
end
if cv then
  if cv > version then
    return {0, cv, epoch or ''}
  end
  if cv == version and not (mode == 'set' and (ck == 'm' or ce ~= epoch)) then
    return {0, cv, epoch or ''}
  end
end
local code = 1
if mode == 'advance' and not (cv and (ck == 'p' or ck == 't') and epoch and ce == epoch) then
  kind = 'm'
  payload = ''
  code = 3
end
local value = ARGV[1] .. '|' .. kind .. '|' .. (epoch or '-') .. '|' .. payload
local ttl = tonumber(ARGV[4])
if ttl and ttl > 0 then
  redis.call('SET', KEYS[1], value, 'PX', ttl)
else
  redis.call('SET', KEYS[1], value)
end
if ARGV[7] and ARGV[7] ~= '' then
  local seq = redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', ARGV[7], KEYS[3] .. '|' .. seq .. '|' .. ARGV[1] .. '|' .. kind .. '|' .. KEYS[1])
end
return {code, version, epoch or ''}
