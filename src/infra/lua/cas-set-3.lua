-- cas-set-3.lua: writes one product's cache entry. Versions only move forward, and nothing older
-- than the truth goes into a key whose history Redis may have lost. The rules themselves are in
-- cas-rules.lua, which redis-cache.ts puts in front of this text; cas-set-many-n.lua applies the
-- same rules to many "set" entries at once.
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
--                    and was armed on this server process (cas_set_allowed).
--          "advance" a consumer's state from an event: it is newer than real data ("p" or "t") of
--                    the current epoch, but may be older than the truth (a backlog), so over anything
--                    else (no entry, a marker, "n", another epoch) it is stored as a marker of its version.
--          "mark"    an invalidation: a marker "version N exists; nothing older may be filled".
-- ARGV[6]  ("set" only) the fence epoch the writer learnt before it read or committed its data
-- ARGV[7]  the namespace's change channel ("" for none): every change of the key is published
--          there as "<KEYS[3]>|<sequence>|<version>|<kind>|<KEYS[1]>" (cas_change)
--
-- Returns {code, version now in the key (0 when fenced), the fence's epoch or ""}:
--   1 stored, 0 refused (the key holds that version or a newer one), 2 fenced (set), 3 stored as a marker (advance)
local fence, epoch = cas_fence(KEYS[2])
if ARGV[5] == 'set' and not cas_set_allowed(fence, epoch, ARGV[6]) then
  return {2, 0, epoch or ''}
end
local code, version, kind = cas_entry(KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], epoch)
if kind and ARGV[7] and ARGV[7] ~= '' then
  local seq = redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', ARGV[7], cas_change(KEYS[3], seq, ARGV[1], kind, KEYS[1]))
end
return {code, version, epoch or ''}
