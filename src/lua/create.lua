-- create.lua - make inbox NAME with Argon2id SALT and TAG (the first 8
-- bytes of SALT are its generation), unless it exists: then answer its
-- hash, for the caller to verify against.  max-inboxes and max-memory
-- are the node's to check, against the gauges (gauges.lua): nothing
-- here touches a key outside NAME's slot, where the count of inboxes
-- made (from which the walk tells how many expired) is kept.
-- KEYS: NAME's :i :q :f :r, its slot's :c.  ARGV: NAME SALT TAG.
-- Returns {'OK'} or {'EXISTS', salt, tag}.
local i, salt, tag = KEYS[1], ARGV[13], ARGV[14]
local k = redis.call('HGET', i, 'k')
if k then
	return {'EXISTS', string.sub(k, 1, #salt), string.sub(k, #salt + 1)}
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', i, 'k', salt .. tag)
redis.call('PEXPIREAT', i, str(NOW + L.it))
redis.call('INCR', KEYS[5])
return {'OK'}
