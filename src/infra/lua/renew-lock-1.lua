-- renew-lock-1.lua: extends a lock's lifetime only if this owner still holds it (a lock that
-- expired and was taken by another owner is left alone). Used for the replay's one-full-replay lock.
-- KEYS[1] the lock key; ARGV[1] the owner token; ARGV[2] the new lifetime in milliseconds.
-- Returns 1 when renewed, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
