-- cas-set-many-n.lua: "set" for many entries under one fence in one call (the replay's pages,
-- batch fills): for each entry, in order, exactly what cas-set-3.lua does in mode "set" (the rules
-- are cas-rules.lua, put in front of this text by redis-cache.ts), but the fence and the server's
-- run_id are checked once, and the change sequence is read once and raised once. "n" in the name:
-- the number of keys varies (2 + the entries).
--
-- KEYS[1]      the fence key of the entries (one namespace on a single server; one bucket on a Cluster)
-- KEYS[2]      the fence's change sequence
-- KEYS[3..]    the entries' keys, in order; a key may come more than once (applied in turn)
-- ARGV[1]      the fence epoch the writer learnt before it read or committed its data
-- ARGV[2]      the namespace's change channel ("" for none): each change published as in cas-set-3.lua,
--              with consecutive sequence numbers
-- ARGV[3]      time to live in milliseconds of "p", "t" and "m" entries (0: none)
-- ARGV[4]      time to live in milliseconds of "n" entries (0: none)
-- ARGV[5..]    three per entry, for KEYS[i] ARGV[3i-4], ARGV[3i-3], ARGV[3i-2]: version, kind, payload
--
-- Returns {the fence's epoch or "", then code and version now in the key for each entry}, code as
-- in cas-set-3.lua (1 stored, 0 refused); when fenced, only {the fence's epoch or "", 2}: nothing written.
local fence, epoch = cas_fence(KEYS[1])
if not cas_set_allowed(fence, epoch, ARGV[1]) then
  return {epoch or '', 2}
end
local channel = ARGV[2]
local ttl, negative_ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {epoch}
local base, changes = nil, 0
for i = 3, #KEYS do
  local a = 3 * i - 4
  local kind = ARGV[a + 1]
  local code, version, stored = cas_entry(KEYS[i], ARGV[a], kind, ARGV[a + 2], kind == 'n' and negative_ttl or ttl, 'set', epoch)
  out[#out + 1] = code
  out[#out + 1] = version
  if stored and channel ~= '' then
    -- Within one script no one else moves the sequence: read it once, publish base+1, base+2, ..., raise it once.
    base = base or tonumber(redis.call('GET', KEYS[2]) or '0')
    changes = changes + 1
    redis.call('PUBLISH', channel, cas_change(KEYS[2], base + changes, ARGV[a], stored, KEYS[i]))
  end
end
if changes > 0 then
  redis.call('INCRBY', KEYS[2], changes)
end
return out
