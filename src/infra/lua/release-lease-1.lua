-- release-lease-1.lua: deletes a fill lease only if this process still owns it (a lease that
-- expired and was taken by another process is left alone).
-- KEYS[1] the lease key; ARGV[1] the owner token. Returns 1 when deleted, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
