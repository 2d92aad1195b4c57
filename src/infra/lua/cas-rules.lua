-- cas-rules.lua: the rules of an entry's compare-and-set, in one place. Not a script of its own:
-- redis-cache.ts puts this text in front of cas-set-3.lua (one entry, any mode),
-- cas-set-many-n.lua (many "set" entries under one fence) and replace-if-equal-3.lua, so the three
-- share one copy of the fence check and of the ordering rules (test/integration/cas-properties.test.ts
-- holds them to one model, usecases/cache-rules.ts).
--
-- Stored value: "<version>|<kind>|<epoch>|<payload>", epoch being the fence's epoch now ("-" when
-- the fence is missing). Readers serve only "p" and "t" entries of the fence's current epoch.
-- Ordering: a newer version wins; an equal one is a no-op, except that a "set" replaces a marker
-- of its own version (the marker waits for exactly that data) and re-stamps an entry of another
-- epoch. A value that does not parse is overwritten.

-- The fence key's value ("<epoch>|<run_id>", or false when missing) and its epoch (nil when none).
local function cas_fence(fence_key)
  local fence = redis.call('GET', fence_key)
  return fence, fence and string.match(fence, '^([0-9a-z]+)|') or nil
end

-- May a writer that learnt `writer_epoch` before it read or committed its data write it ("set")?
-- Only while the fence still holds that epoch (no loss detected since) and was armed on this very
-- server process: a fence that came over with a promoted replica or a moved slot may sit over lost
-- writes until someone re-arms it.
local function cas_set_allowed(fence, epoch, writer_epoch)
  return epoch ~= nil and epoch == writer_epoch
    and string.match(fence, '|(%x+)$') == string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
end

-- One entry's compare-and-set under the fence epoch `epoch` (nil: no fence); the fence check of a
-- "set" is the caller's. `version_text` is the version as sent (it goes into the value as is),
-- `ttl` milliseconds (0 or nil: no expiry). Returns the code (1 stored, 0 refused, 3 stored as a
-- marker), the version now in the key, and the kind stored (nil when nothing was written).
local function cas_entry(key, version_text, kind, payload, ttl, mode, epoch)
  local version = tonumber(version_text)
  if mode == 'mark' then
    kind = 'm'
    payload = ''
  end
  local current = redis.call('GET', key)
  local cv, ck, ce
  if current then
    local v, k, e = string.match(current, '^(%d+)|([ptmn])|([0-9a-z%-]+)|')
    cv, ck, ce = tonumber(v), k, e
  end
  if cv then
    if cv > version then
      return 0, cv, nil
    end
    if cv == version and not (mode == 'set' and (ck == 'm' or ce ~= epoch)) then
      return 0, cv, nil
    end
  end
  local code = 1
  -- A consumer's state goes over real data of the current epoch only; over anything else it may be
  -- older than the truth (a backlog), so only its version goes in, as a marker.
  if mode == 'advance' and not (cv and (ck == 'p' or ck == 't') and epoch and ce == epoch) then
    kind = 'm'
    payload = ''
    code = 3
  end
  local value = version_text .. '|' .. kind .. '|' .. (epoch or '-') .. '|' .. payload
  if ttl and ttl > 0 then
    redis.call('SET', key, value, 'PX', ttl)
  else
    redis.call('SET', key, value)
  end
  return code, version, kind
end

-- The message announcing a change on the namespace's channel: "<sequence key>|<sequence>|<version>|<kind>|<key>",
-- the sequence counting the changes under the fence, so a subscriber sees a lost message as a gap.
local function cas_change(sequence_key, seq, version_text, kind, key)
  return sequence_key .. '|' .. seq .. '|' .. version_text .. '|' .. kind .. '|' .. key
end

