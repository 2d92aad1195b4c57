-- release-lease-1.lua: deletes a lease or lock only if this owner still holds it (one that expired
-- and was taken by another owner is left alone). Used for the cache's fill leases and for the
-- replay's one-full-replay lock.
-- KEYS[1] the lease key; ARGV[1] the owner token. Returns 1 when deleted, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
