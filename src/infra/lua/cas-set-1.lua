-- cas-set-1.lua: store a versioned cache entry only if it is newer than what the key holds.
-- One script for the read fill, the API's write-through, the consumers and the replay, so none of
-- them can put an older version over a newer one.
--
-- KEYS[1]  the entry's key
-- ARGV[1]  version of the entry (integer >= 1)
-- ARGV[2]  kind: "p" product, "t" tombstone (deleted), "m" invalidation marker (evict mode)
-- ARGV[3]  payload: the product's JSON for "p", empty otherwise
-- ARGV[4]  time to live in milliseconds; 0 keeps the entry without expiry
--
-- Stored value: "<version>|<kind>|<payload>".
-- Ordering: a newer version always wins; an equal version is a no-op, except that real data ("p"
-- or "t") replaces a marker of its own version (the marker says "version N exists, nothing older
-- may be filled", so the fill of N is exactly what it waits for). A value that does not parse is
-- overwritten.
--
-- Returns {1, version} when stored, {0, current version} when refused.
local new_version = tonumber(ARGV[1])
local kind = ARGV[2]
local current = redis.call('GET', KEYS[1])
if current then
  local v, k = string.match(current, '^(%d+)|(%a)|')
  v = tonumber(v)
  if v then
    if v > new_version or (v == new_version and not (k == 'm' and kind ~= 'm')) then
      return {0, v}
    end
  end
end
local value = ARGV[1] .. '|' .. kind .. '|' .. ARGV[3]
local ttl = tonumber(ARGV[4])
if ttl and ttl > 0 then
  redis.call('SET', KEYS[1], value, 'PX', ttl)
else
  redis.call('SET', KEYS[1], value)
end
return {1, new_version}
